#include "server/grpc/wire.h"

#include <google/protobuf/stubs/logging.h>
#include <grpcpp/impl/codegen/proto_utils.h>

#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hearth::server {
namespace {

// While a thread parses a request, libprotobuf's log lines from that thread land here.
thread_local std::string* t_capture = nullptr;
google::protobuf::LogHandler* g_previous_handler = nullptr;

void CapturingLogHandler(google::protobuf::LogLevel level, const char* filename, int line,
                         const std::string& message) {
  if (t_capture != nullptr && level < google::protobuf::LOGLEVEL_FATAL) {
    if (t_capture->empty()) *t_capture = message;
    return;
  }
  if (g_previous_handler != nullptr) g_previous_handler(level, filename, line, message);
}

void InstallHandlerOnce() {
  static std::once_flag once;
  std::call_once(
      once, [] { g_previous_handler = google::protobuf::SetLogHandler(&CapturingLogHandler); });
}

// "String field 'hearth.v1.ChatMessage.content' contains invalid UTF-8 data when parsing a
// protocol buffer. ..." -> "hearth.v1.ChatMessage.content"; "" for any other text.
std::string Utf8FieldName(const std::string& log) {
  constexpr absl::string_view kPrefix = "String field '";
  if (!absl::StartsWith(log, kPrefix) || !absl::StrContains(log, "invalid UTF-8")) return "";
  const size_t end = log.find('\'', kPrefix.size());
  if (end == std::string::npos) return "";
  return log.substr(kPrefix.size(), end - kPrefix.size());
}

}  // namespace

absl::Status ParseRequest(const grpc::ByteBuffer& in, google::protobuf::Message* out) {
  InstallHandlerOnce();
  out->Clear();
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!in.Dump(&slices).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(out->GetDescriptor()->name(), ": unreadable request payload"));
  }
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  std::string log;
  t_capture = &log;
  const bool ok = out->ParseFromString(bytes);
  t_capture = nullptr;
  if (ok) return absl::OkStatus();
  out->Clear();
  const std::string field = Utf8FieldName(log);
  if (!field.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(out->GetDescriptor()->name(), ": string field ",
                                                   field, " is not valid UTF-8"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      out->GetDescriptor()->name(), ": not a valid protobuf encoding (", bytes.size(), " bytes)"));
}

absl::Status SerializeResponse(const google::protobuf::Message& message, grpc::ByteBuffer* out) {
  bool own_buffer = false;
  const grpc::Status st =
      grpc::GenericSerialize<grpc::ProtoBufferWriter, google::protobuf::Message>(message, out,
                                                                                 &own_buffer);
  if (!st.ok()) {
    return absl::InternalError(absl::StrCat("cannot serialize ", message.GetDescriptor()->name(),
                                            ": ", st.error_message()));
  }
  return absl::OkStatus();
}

}  // namespace hearth::server
