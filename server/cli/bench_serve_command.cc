#include "server/cli/bench_serve_command.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/engine.h"
#include "server/cli/args.h"
#include "server/cli/bench/grpc_util.h"
#include "server/cli/bench/openai_target.h"
#include "server/cli/bench/report.h"
#include "server/cli/bench/runner.h"
#include "server/cli/bench/targets.h"
#include "server/cli/bench/workload.h"
#include "server/cli/model_path.h"
#include "server/cli/serve_setup.h"
#include "server/config/server_config.h"

namespace hearth::server {
namespace {

using cli::FlagSpec;
using cli::ParsedArgs;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

const std::vector<FlagSpec>& Specs() {
  static const auto* specs = new std::vector<FlagSpec>{
      {"address", true,
       "HOST:PORT  the server (default 127.0.0.1:50051); several, comma-separated or repeated: "
       "round-robin over replicas, draining ones skipped, refused calls retried"},
      {"model", true, "NAME  model name (default: the served model)"},
      {"concurrency", true, "N  closed loop: streams in flight (default 1)"},
      {"rate", true, "R  open loop: Poisson arrivals at R requests/s (instead of --concurrency)"},
      {"num_requests", true, "M  requests to send (default 64)"},
      {"prompt_len", true, "MIN:MAX  prompt tokens, uniform (default 64)"},
      {"output_len", true, "MIN:MAX  output tokens, uniform, exact (default 128)"},
      {"seed", true, "N  seeds prompts, lengths and arrivals (default 0)"},
      {"temperature", true, "T  sampling temperature (default 0, greedy)"},
      {"deadline_ms", true, "N  per-request deadline (default none)"},
      {"warmup", true, "N  untimed requests (output 16) before the run (default 0)"},
      {"json", true, "FILE  write the report and every request's timings as JSON"},
      {"offline", false, "run on the engine in process; `hearth serve` flags follow `--`"},
      {"openai", true,
       "URL  send through the OpenAI-compatible HTTP API (POST URL/v1/completions, SSE) "
       "instead of gRPC, e.g. http://127.0.0.1:8000 (--address still reads the vocabulary)"},
      {"help", false, "this message"},
  };
  return *specs;
}

int UsageError(const std::string& message) {
  std::fprintf(stderr, "hearth bench-serve: %s\n(hearth bench-serve --help for usage)\n",
               message.c_str());
  return kExitUsage;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "hearth bench-serve: %s\n", message.c_str());
  return kExitFailed;
}

// The EngineConfig `hearth serve` builds from `serve_flags` (plus HEARTH_* env), and the model
// path (the engine sizes the KV cache and caps max_model_len as serve's does).
struct OfflineSetup {
  std::string model_path;
  engine::EngineConfig engine_config;
};
absl::StatusOr<OfflineSetup> ServeEquivalentConfig(const std::vector<std::string>& serve_flags) {
  ASSIGN_OR_RETURN(ServeSetup setup, LoadServeSetup(serve_flags));
  OfflineSetup offline;
  const ServerConfig& config = setup.loaded.config;
  offline.model_path = config.model.empty() ? DefaultModelPath() : config.model;
  offline.engine_config = config.ToEngineConfig();
  return offline;
}

absl::Status ParseWorkload(const ParsedArgs& args, cli::WorkloadSpec& spec, int32_t& concurrency) {
  ASSIGN_OR_RETURN(int64_t n, args.GetInt("num_requests", 64));
  ASSIGN_OR_RETURN(int64_t c, args.GetInt("concurrency", 1));
  ASSIGN_OR_RETURN(double rate, args.GetDouble("rate", 0));
  ASSIGN_OR_RETURN(int64_t seed, args.GetInt("seed", 0));
  ASSIGN_OR_RETURN(auto prompt, cli::ParseRange("prompt_len", args.GetString("prompt_len", "64")));
  ASSIGN_OR_RETURN(auto output, cli::ParseRange("output_len", args.GetString("output_len", "128")));
  if (n < 1 || n > 1000000) return absl::InvalidArgumentError("--num_requests must be >= 1");
  if (c < 1 || c > 1024) return absl::InvalidArgumentError("--concurrency must be in [1, 1024]");
  if (rate < 0 || !(rate < 1e9)) return absl::InvalidArgumentError("--rate must be > 0");
  if (args.Has("rate") && args.Has("concurrency")) {
    return absl::InvalidArgumentError("give --concurrency (closed loop) or --rate (open loop)");
  }
  if (args.Has("rate") && rate == 0) return absl::InvalidArgumentError("--rate must be > 0");
  spec.num_requests = static_cast<int32_t>(n);
  spec.rate = rate;
  spec.seed = static_cast<uint64_t>(seed);
  spec.prompt_len_min = prompt.first;
  spec.prompt_len_max = prompt.second;
  spec.output_len_min = output.first;
  spec.output_len_max = output.second;
  concurrency = rate > 0 ? 0 : static_cast<int32_t>(c);
  return absl::OkStatus();
}

// Ordinary token ids: above the special tokens at the bottom of the vocabulary.
void SetTokenRange(int32_t vocab_size, cli::WorkloadSpec& spec) {
  spec.token_min = std::min(100, vocab_size - 1);
  spec.token_max = std::max(spec.token_min, std::min(vocab_size - 1, 30000));
}

}  // namespace

int RunBenchServe(int argc, char** argv) {
  auto args = ParsedArgs::Parse(Specs(), std::vector<std::string>(argv + 1, argv + argc));
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (args->GetBool("help")) {
    std::printf("usage: hearth bench-serve [flags] [--offline -- SERVE_FLAGS]\n\nflags:\n%s",
                cli::FormatFlags(Specs()).c_str());
    return kExitOk;
  }
  if (!args->positional().empty()) {
    return UsageError(absl::StrCat("unexpected argument '", args->positional()[0], "'"));
  }
  const bool offline = args->GetBool("offline");
  if (!offline && !args->rest().empty()) return UsageError("serve flags after -- need --offline");
  cli::WorkloadSpec spec;
  int32_t concurrency = 0;
  if (absl::Status st = ParseWorkload(*args, spec, concurrency); !st.ok()) {
    return UsageError(std::string(st.message()));
  }
  auto temperature = args->GetDouble("temperature", 0);
  auto deadline = args->GetInt("deadline_ms", 0);
  if (!temperature.ok()) return UsageError(std::string(temperature.status().message()));
  if (!deadline.ok()) return UsageError(std::string(deadline.status().message()));
  const std::vector<std::string> addresses = args->GetAll("address");
  const std::string address = addresses.empty() ? "127.0.0.1:50051" : absl::StrJoin(addresses, ",");

  // The target and its vocabulary; the engine (offline) lives until the run ends.
  std::unique_ptr<engine::LoadedModel> model;
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<cli::BenchTarget> target;
  if (offline) {
    auto setup = ServeEquivalentConfig(args->rest());
    if (!setup.ok()) return UsageError(std::string(setup.status().message()));
    auto opened = engine::LoadedModel::Open(setup->model_path);
    if (!opened.ok()) return Fail(std::string(opened.status().message()));
    model = *std::move(opened);
    auto created = engine::Engine::Create(*model, setup->engine_config);
    if (!created.ok()) return Fail(std::string(created.status().message()));
    engine = *std::move(created);
    SetTokenRange(engine->tokenizer().vocab_size(), spec);
    target = std::make_unique<cli::EngineTarget>(*engine, static_cast<float>(*temperature));
  } else {
    auto made = cli::MakeChannel(address);
    if (!made.ok()) return UsageError(std::string(made.status().message()));
    std::shared_ptr<grpc::Channel> channel = *std::move(made);
    v1::Hearth::Stub stub(channel);
    grpc::ClientContext context;
    cli::SetDeadlineMs(context, 10000);
    v1::ModelInfoRequest req;
    req.set_model(args->GetString("model"));
    v1::ModelInfoResponse info;
    if (grpc::Status st = stub.ModelInfo(&context, req, &info); !st.ok()) {
      return Fail(absl::StrCat("ModelInfo on ", address, " failed: ", cli::FormatStatus(st)));
    }
    SetTokenRange(info.vocab_size(), spec);
    if (args->Has("openai")) {
      target =
          std::make_unique<cli::OpenAiTarget>(args->GetString("openai"), args->GetString("model"),
                                              static_cast<float>(*temperature), *deadline);
    } else {
      target = std::make_unique<cli::GrpcTarget>(channel, args->GetString("model"),
                                                 static_cast<float>(*temperature), *deadline);
    }
  }

  auto warmup = args->GetInt("warmup", 0);
  if (!warmup.ok()) return UsageError(std::string(warmup.status().message()));
  if (*warmup > 0) {  // pages the weights in and warms caches; not measured
    cli::WorkloadSpec warm = spec;
    warm.num_requests = static_cast<int32_t>(*warmup);
    warm.seed = spec.seed + 1000003;
    warm.rate = 0;
    warm.output_len_min = warm.output_len_max = std::min(16, spec.output_len_max);
    cli::RunClosedLoop(*target, cli::MakeWorkload(warm), std::max(1, concurrency));
  }
  const std::vector<cli::WorkItem> items = cli::MakeWorkload(spec);
  cli::RunResult run = concurrency > 0 ? cli::RunClosedLoop(*target, items, concurrency)
                                       : cli::RunOpenLoop(*target, items);
  cli::BenchReport report = cli::MakeReport(std::move(run.records), run.duration);
  report.mode = offline ? "offline" : args->Has("openai") ? "openai" : "grpc";
  report.concurrency = concurrency;
  report.rate = spec.rate;
  std::fputs(cli::FormatReport(report).c_str(), stdout);
  std::fflush(stdout);
  if (args->Has("json")) {
    std::ofstream out(args->GetString("json"));
    out << cli::ReportJson(report);
    out.close();  // flushes: a full disk shows up here, not in the destructor
    if (!out) return Fail("cannot write " + args->GetString("json"));
  }
  return report.failed == 0 ? kExitOk : kExitFailed;
}

}  // namespace hearth::server
