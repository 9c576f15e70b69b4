#include "server/cli/bench/grpc_util.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/generic/generic_stub.h"

namespace hearth::server::cli {

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN_CODE";
  }
}

std::string FormatStatus(const grpc::Status& status) {
  return absl::StrCat(StatusCodeName(status.error_code()), ": ", status.error_message());
}

absl::StatusOr<std::pair<std::string, int>> BalancedTarget(const std::string& addresses) {
  std::vector<std::string> parts = absl::StrSplit(addresses, ',', absl::SkipWhitespace());
  if (parts.empty()) return absl::InvalidArgumentError("no address given");
  if (parts.size() == 1)
    return std::make_pair(std::string(absl::StripAsciiWhitespace(parts[0])), 1);
  std::vector<std::string> resolved;
  bool v4 = false;
  bool v6 = false;
  for (const std::string& raw : parts) {
    const std::string part(absl::StripAsciiWhitespace(raw));
    const size_t colon = part.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == part.size()) {
      return absl::InvalidArgumentError(absl::StrCat("address '", part, "': want HOST:PORT"));
    }
    std::string host = part.substr(0, colon);
    if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const std::string port = part.substr(colon + 1);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* info = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &info) != 0 || info == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("address '", part, "': cannot resolve"));
    }
    for (addrinfo* a = info; a != nullptr; a = a->ai_next) {
      char ip[INET6_ADDRSTRLEN] = {};
      if (a->ai_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, ip, sizeof(ip));
        v4 = true;
        resolved.push_back(absl::StrCat(ip, ":", port));
      } else if (a->ai_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, ip,
                  sizeof(ip));
        v6 = true;
        resolved.push_back(absl::StrCat("[", ip, "]:", port));
      }
    }
    freeaddrinfo(info);
  }
  if (v4 && v6) {
    return absl::InvalidArgumentError(
        absl::StrCat("addresses '", addresses, "' mix IPv4 and IPv6: give one family"));
  }
  std::sort(resolved.begin(), resolved.end());
  resolved.erase(std::unique(resolved.begin(), resolved.end()), resolved.end());
  return std::make_pair(absl::StrCat(v6 ? "ipv6:" : "ipv4:", absl::StrJoin(resolved, ",")),
                        static_cast<int>(resolved.size()));
}

std::string BalancedServiceConfig(int retries) {
  std::string config = R"({"loadBalancingConfig": [{"round_robin": {}}],)"
                       R"( "healthCheckConfig": {"serviceName": ""})";
  if (retries > 0) {
    absl::StrAppend(&config, R"(, "methodConfig": [{"name": [{"service": "hearth.v1.Hearth"}],)",
                    R"( "retryPolicy": {"maxAttempts": )", std::min(retries, 4) + 1,
                    R"(, "initialBackoff": "0.1s", "maxBackoff": "5s", "backoffMultiplier": 2,)",
                    R"( "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"]}}])");
  }
  return config + "}";
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address) {
  auto target = BalancedTarget(address);
  if (!target.ok()) return target.status();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  if (target->second > 1) args.SetServiceConfigJSON(BalancedServiceConfig(/*retries=*/2));
  return grpc::CreateCustomChannel(target->first, grpc::InsecureChannelCredentials(), args);
}

void SetDeadlineMs(grpc::ClientContext& context, int64_t ms) {
  if (ms > 0)
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
}

HealthResult CheckHealth(grpc::Channel& channel, const std::string& service, int64_t deadline_ms) {
  // HealthCheckRequest { string service = 1; } by hand: tag 0x0a, length, bytes.
  std::string request;
  if (!service.empty()) {
    request.push_back('\x0a');
    request.push_back(static_cast<char>(service.size()));  // names are < 128 bytes
    request += service;
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  grpc::GenericStub stub(std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  SetDeadlineMs(context, deadline_ms);
  HealthResult result;
  absl::Notification done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request_buffer,
                 &response_buffer, [&](grpc::Status status) {
                   result.status = std::move(status);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!result.status.ok()) return result;
  // HealthCheckResponse { ServingStatus status = 1; }: tag 0x08 then a small varint; absent
  // means 0 (UNKNOWN).
  std::string bytes;
  std::vector<grpc::Slice> slices;
  if (response_buffer.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices)
      bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  int value = 0;
  if (bytes.size() >= 2 && bytes[0] == '\x08') value = static_cast<unsigned char>(bytes[1]);
  static const char* const kNames[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
  result.serving_status = value >= 0 && value < 4 ? kNames[value] : absl::StrCat("STATUS_", value);
  return result;
}

}  // namespace hearth::server::cli
