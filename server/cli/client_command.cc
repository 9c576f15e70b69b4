#include "server/cli/client_command.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "grpcpp/grpcpp.h"
#include "hearth/v1/hearth.grpc.pb.h"
#include "server/cli/args.h"
#include "server/cli/bench/grpc_util.h"

namespace hearth::server {
namespace {

using cli::FlagSpec;
using cli::ParsedArgs;

constexpr int kExitOk = 0;
constexpr int kExitRpcFailed = 1;
constexpr int kExitUsage = 2;
constexpr int64_t kDefaultUnaryDeadlineMs = 10000;

const std::vector<FlagSpec>& Specs() {
  static const auto* specs = new std::vector<FlagSpec>{
      {"address", true, "HOST:PORT  the server (default 127.0.0.1:50051); several: round-robin"},
      {"deadline_ms", true, "N  per-call deadline (default: none for generate, 10000 others)"},
      {"model", true, "NAME  model name (default: the served model)"},
      {"prompt", true, "TEXT  generate: complete this text"},
      {"chat", true, "TEXT  generate: one user message, formatted with the chat template"},
      {"system", true, "TEXT  generate: system message for --chat"},
      {"max_tokens", true, "N  most tokens to generate (server default 16)"},
      {"temperature", true, "T  sampling temperature, 0 = greedy (server default 1)"},
      {"top_p", true, "P  nucleus mass in (0, 1]"},
      {"top_k", true, "K  keep the k most likely tokens"},
      {"min_p", true, "P  min-p filter"},
      {"seed", true, "N  per-request seed"},
      {"stop", true, "TEXT  a stop string (repeat the flag for more)"},
      {"ignore_eos", false, "keep generating after EOS"},
      {"priority", true, "N  lower runs first (default 0)"},
      {"request_id", true, "ID  echoed by the server"},
      {"add_special_tokens", false, "tokenize: add BOS/EOS as the model says"},
      {"parse_special_tokens", false, "tokenize: parse special-token text"},
      {"help", false, "this message"},
  };
  return *specs;
}

void PrintUsage(std::FILE* out) {
  std::fprintf(out,
               "usage: hearth client <generate|tokenize|models|info|health> [flags]\n\n"
               "  generate --prompt TEXT | --chat TEXT [sampling flags]\n"
               "  tokenize TEXT\n  models\n  info\n  health\n\nflags:\n%s",
               cli::FormatFlags(Specs()).c_str());
}

int UsageError(const std::string& message) {
  std::fprintf(stderr, "hearth client: %s\n(hearth client --help for usage)\n", message.c_str());
  return kExitUsage;
}

int RpcError(const std::string& what, const std::string& address, const grpc::Status& status) {
  std::fprintf(stderr, "hearth client: %s on %s failed: %s\n", what.c_str(), address.c_str(),
               cli::FormatStatus(status).c_str());
  return kExitRpcFailed;
}

std::string FinishName(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_STOP:
      return "stop";
    case v1::FINISH_REASON_LENGTH:
      return "length";
    case v1::FINISH_REASON_ABORT:
      return "abort";
    default:
      return "unspecified";
  }
}

// Flags -> GenerateRequest; InvalidArgument for a bad combination or value.
absl::StatusOr<v1::GenerateRequest> BuildGenerateRequest(const ParsedArgs& args) {
  v1::GenerateRequest req;
  req.set_model(args.GetString("model"));
  req.set_request_id(args.GetString("request_id"));
  const bool has_prompt = args.Has("prompt");
  const bool has_chat = args.Has("chat");
  if (has_prompt == has_chat) {
    return absl::InvalidArgumentError("generate needs exactly one of --prompt TEXT, --chat TEXT");
  }
  if (has_prompt) {
    req.set_text(args.GetString("prompt"));
  } else {
    v1::ChatMessages* chat = req.mutable_chat();
    if (args.Has("system")) {
      v1::ChatMessage* m = chat->add_messages();
      m->set_role("system");
      m->set_content(args.GetString("system"));
    }
    v1::ChatMessage* m = chat->add_messages();
    m->set_role("user");
    m->set_content(args.GetString("chat"));
  }
  v1::SamplingParams* p = req.mutable_sampling();
  if (args.Has("max_tokens")) {
    ASSIGN_OR_RETURN(int64_t v, args.GetInt("max_tokens", 0));
    p->set_max_tokens(static_cast<int32_t>(v));
  }
  if (args.Has("temperature")) {
    ASSIGN_OR_RETURN(double v, args.GetDouble("temperature", 0));
    p->set_temperature(static_cast<float>(v));
  }
  if (args.Has("top_p")) {
    ASSIGN_OR_RETURN(double v, args.GetDouble("top_p", 0));
    p->set_top_p(static_cast<float>(v));
  }
  if (args.Has("top_k")) {
    ASSIGN_OR_RETURN(int64_t v, args.GetInt("top_k", 0));
    p->set_top_k(static_cast<int32_t>(v));
  }
  if (args.Has("min_p")) {
    ASSIGN_OR_RETURN(double v, args.GetDouble("min_p", 0));
    p->set_min_p(static_cast<float>(v));
  }
  if (args.Has("seed")) {
    ASSIGN_OR_RETURN(int64_t v, args.GetInt("seed", 0));
    p->set_seed(static_cast<uint64_t>(v));
  }
  if (args.GetBool("ignore_eos")) p->set_ignore_eos(true);
  for (const std::string& stop : args.GetAll("stop")) p->add_stop(stop);
  ASSIGN_OR_RETURN(int64_t priority, args.GetInt("priority", 0));
  req.set_priority(static_cast<int32_t>(priority));
  return req;
}

int Generate(v1::Hearth::Stub& stub, const ParsedArgs& args, const std::string& address,
             int64_t deadline_ms) {
  auto req = BuildGenerateRequest(args);
  if (!req.ok()) return UsageError(std::string(req.status().message()));
  grpc::ClientContext context;
  cli::SetDeadlineMs(context, deadline_ms);
  const auto start = std::chrono::steady_clock::now();
  double ttft = -1;
  auto reader = stub.Generate(&context, *req);
  v1::GenerateResponse msg;
  v1::GenerateResponse last;
  bool wrote = false;
  while (reader->Read(&msg)) {
    if (ttft < 0 && msg.token_ids_size() > 0) {
      ttft = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    std::fwrite(msg.text().data(), 1, msg.text().size(), stdout);
    if (std::fflush(stdout) != 0) {
      const int err = errno;
      context.TryCancel();  // the server stops generating for us
      reader->Finish();
      std::fprintf(stderr, "hearth client: cannot write the output: %s\n", std::strerror(err));
      return kExitRpcFailed;
    }
    wrote = wrote || !msg.text().empty();
    if (msg.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) last = msg;
  }
  const grpc::Status status = reader->Finish();
  const double e2e =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (wrote) std::fputc('\n', stdout);
  std::fflush(stdout);
  if (!status.ok()) return RpcError("generate", address, status);
  const v1::Usage& u = last.usage();
  std::fprintf(stderr,
               "[finish_reason=%s%s prompt_tokens=%d cached_prompt_tokens=%d "
               "completion_tokens=%d ttft_ms=%.1f e2e_ms=%.1f]\n",
               FinishName(last.finish_reason()).c_str(),
               last.stop_reason().empty()
                   ? ""
                   : absl::StrCat(" stop_reason=\"", last.stop_reason(), "\"").c_str(),
               u.prompt_tokens(), u.cached_prompt_tokens(), u.completion_tokens(),
               ttft < 0 ? 0.0 : ttft * 1e3, e2e * 1e3);
  return kExitOk;
}

int Tokenize(v1::Hearth::Stub& stub, const ParsedArgs& args, const std::string& address,
             int64_t deadline_ms) {
  if (args.positional().size() != 2) return UsageError("usage: hearth client tokenize TEXT");
  v1::TokenizeRequest req;
  req.set_model(args.GetString("model"));
  req.set_text(args.positional()[1]);
  req.set_add_special_tokens(args.GetBool("add_special_tokens"));
  req.set_parse_special_tokens(args.GetBool("parse_special_tokens"));
  grpc::ClientContext context;
  cli::SetDeadlineMs(context, deadline_ms);
  v1::TokenizeResponse resp;
  const grpc::Status status = stub.Tokenize(&context, req, &resp);
  if (!status.ok()) return RpcError("tokenize", address, status);
  std::printf("%s\n", absl::StrJoin(resp.token_ids(), " ").c_str());
  return kExitOk;
}

int Models(v1::Hearth::Stub& stub, const std::string& address, int64_t deadline_ms) {
  grpc::ClientContext context;
  cli::SetDeadlineMs(context, deadline_ms);
  v1::ListModelsResponse resp;
  const grpc::Status status = stub.ListModels(&context, v1::ListModelsRequest(), &resp);
  if (!status.ok()) return RpcError("models", address, status);
  for (const v1::ModelCard& m : resp.models()) {
    std::printf("%s\tarchitecture=%s quant_type=%s context_length=%d\n", m.name().c_str(),
                m.architecture().c_str(), m.quant_type().c_str(), m.context_length());
  }
  return kExitOk;
}

int Info(v1::Hearth::Stub& stub, const ParsedArgs& args, const std::string& address,
         int64_t deadline_ms) {
  grpc::ClientContext context;
  cli::SetDeadlineMs(context, deadline_ms);
  v1::ModelInfoRequest req;
  req.set_model(args.GetString("model"));
  v1::ModelInfoResponse r;
  const grpc::Status status = stub.ModelInfo(&context, req, &r);
  if (!status.ok()) return RpcError("info", address, status);
  std::printf(
      "name: %s\narchitecture: %s\nquant_type: %s\ncontext_length: %d\nvocab_size: %d\n"
      "parameter_count: %lld\nbackend: %s\nkv_cache_capacity_tokens: %lld\nkv_block_size: %d\n"
      "kv_cache_free_blocks: %d\nkv_cache_total_blocks: %d\nkv_cache_usage: %.4f\n"
      "num_requests_running: %d\nnum_requests_waiting: %d\nnum_requests_swapped: %d\n"
      "num_preemptions: %lld\nprefix_cache_hit_tokens: %lld\nprefix_cache_query_tokens: %lld\n"
      "active_parameter_count: %lld\n",
      r.model().name().c_str(), r.model().architecture().c_str(), r.model().quant_type().c_str(),
      r.model().context_length(), r.vocab_size(), static_cast<long long>(r.parameter_count()),
      r.backend().c_str(), static_cast<long long>(r.kv_cache_capacity_tokens()), r.kv_block_size(),
      r.kv_cache_free_blocks(), r.kv_cache_total_blocks(), r.kv_cache_usage(),
      r.num_requests_running(), r.num_requests_waiting(), r.num_requests_swapped(),
      static_cast<long long>(r.num_preemptions()),
      static_cast<long long>(r.prefix_cache_hit_tokens()),
      static_cast<long long>(r.prefix_cache_query_tokens()),
      static_cast<long long>(r.active_parameter_count()));
  for (const v1::StageInfo& st : r.stages()) {
    std::printf("stage: %s layers %d-%d, kv_cache_bytes %lld of %lld available%s\n",
                st.device().c_str(), st.first_layer(), st.last_layer(),
                static_cast<long long>(st.kv_cache_bytes()),
                static_cast<long long>(st.kv_available_bytes()),
                st.limits_capacity() && r.stages_size() > 1 ? " (sets the capacity)" : "");
  }
  return kExitOk;
}

int Health(grpc::Channel& channel, const std::string& address, int64_t deadline_ms) {
  const cli::HealthResult h = cli::CheckHealth(channel, "", deadline_ms);
  if (!h.status.ok()) return RpcError("health", address, h.status);
  std::printf("%s\n", h.serving_status.c_str());
  return h.serving_status == "SERVING" ? kExitOk : kExitRpcFailed;
}

}  // namespace

int RunClient(int argc, char** argv) {
  auto args = ParsedArgs::Parse(Specs(), std::vector<std::string>(argv + 1, argv + argc));
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (args->GetBool("help")) {
    PrintUsage(stdout);
    return kExitOk;
  }
  if (args->positional().empty()) return UsageError("missing subcommand");
  const std::string sub = args->positional()[0];
  if (sub != "tokenize" && args->positional().size() > 1) {
    return UsageError(absl::StrCat("unexpected argument '", args->positional()[1], "'"));
  }
  const std::string address = args->GetString("address", "127.0.0.1:50051");
  auto deadline = args->GetInt("deadline_ms", sub == "generate" ? 0 : kDefaultUnaryDeadlineMs);
  if (!deadline.ok()) return UsageError(std::string(deadline.status().message()));
  auto made = cli::MakeChannel(address);
  if (!made.ok()) return UsageError(std::string(made.status().message()));
  std::shared_ptr<grpc::Channel> channel = *std::move(made);
  v1::Hearth::Stub stub(channel);
  if (sub == "generate") return Generate(stub, *args, address, *deadline);
  if (sub == "tokenize") return Tokenize(stub, *args, address, *deadline);
  if (sub == "models") return Models(stub, address, *deadline);
  if (sub == "info") return Info(stub, *args, address, *deadline);
  if (sub == "health") return Health(*channel, address, *deadline);
  return UsageError(absl::StrCat("unknown subcommand '", sub, "'"));
}

}  // namespace hearth::server
