#include "server/cli/quantize_command.h"

#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/convert/model_quantizer.h"
#include "engine/convert/quantize_plan.h"
#include "engine/gguf/gguf_file.h"
#include "server/cli/cli_args.h"
#include "server/cli/progress_bar.h"

namespace hearth::server {
namespace {

using engine::GgmlType;
using engine::convert::QuantizeOptions;
using engine::convert::TensorPlan;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

void PrintUsage(std::FILE* out) {
  std::fprintf(out,
               "usage: hearth quantize IN.gguf OUT.gguf --type TYPE [--threads N] [--pure]\n"
               "         [--output-type TYPE] [--token-embedding-type TYPE] [--dry-run] "
               "[--quiet]\n\n"
               "TYPE: %s\n"
               "1-D tensors and MoE routers stay F32; output.weight (or tied token_embd) gets "
               "Q6_K\n(Q8_0 for --type q8_0) unless --pure; K-quant rows that are not a "
               "multiple of 256\nfall back to Q4_1 (q4_k) or Q8_0 (q5_k, q6_k).\n",
               engine::convert::QuantTypeNames().c_str());
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "hearth quantize: %s\n\n", message.c_str());
  PrintUsage(stderr);
  return kExitUsage;
}

struct Args {
  std::string in, out;
  QuantizeOptions options;
  int threads = 0;
  bool dry_run = false;
  bool quiet = false;
  bool help = false;
};

// Parses argv into `args`; returns an error message, empty on success.
std::string ParseArgs(int argc, char** argv, Args* args) {
  auto cli = ParseCliArgs(argc, argv, {"type", "threads", "output-type", "token-embedding-type"},
                          {"pure", "dry-run", "quiet"});
  if (!cli.ok()) return std::string(cli.status().message());
  args->help = cli->help;
  if (args->help) return "";
  args->options.pure = cli->switches.count("pure") > 0;
  args->dry_run = cli->switches.count("dry-run") > 0;
  args->quiet = cli->switches.count("quiet") > 0;
  if (cli->values.count("threads")) {
    auto threads = cli->Int("threads", 1, 1024);
    if (!threads.ok()) return std::string(threads.status().message());
    args->threads = static_cast<int>(*threads);
  }
  for (const char* name : {"type", "output-type", "token-embedding-type"}) {
    auto it = cli->values.find(name);
    if (it == cli->values.end()) continue;
    auto type = engine::convert::ParseQuantType(it->second);
    if (!type.ok()) return absl::StrCat("--", name, ": ", type.status().message());
    if (it->first == "type") {
      args->options.type = *type;
    } else if (it->first == "output-type") {
      args->options.output_type = *type;
    } else {
      args->options.token_embedding_type = *type;
    }
  }
  if (cli->positional.size() != 2) {
    return absl::StrCat("expected IN.gguf and OUT.gguf, got ", cli->positional.size(),
                        " positional arguments");
  }
  args->in = cli->positional[0];
  args->out = cli->positional[1];
  if (!cli->values.count("type")) return "--type is required";
  return "";
}

std::string TypeName(GgmlType t) { return std::string(engine::GetTypeTraits(t).name); }

std::string Mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", bytes / 1048576.0);
  return buf;
}

void PrintPlan(const std::vector<TensorPlan>& plan) {
  for (const TensorPlan& p : plan) {
    std::printf("%-40s %-6s -> %-6s %s%s\n", p.source->name.c_str(),
                std::string(p.source->traits ? p.source->traits->name : "?").c_str(),
                TypeName(p.type).c_str(), p.copy() ? "(copied) " : "", p.reason.c_str());
  }
}

}  // namespace

int RunQuantize(int argc, char** argv) {
  Args args;
  if (std::string error = ParseArgs(argc, argv, &args); !error.empty()) return Usage(error);
  if (args.help) {
    PrintUsage(stdout);
    return kExitOk;
  }
  auto source = engine::GgufFile::Open(args.in);
  if (!source.ok()) {
    std::fprintf(stderr, "hearth quantize: %s\n", std::string(source.status().message()).c_str());
    return kExitFailed;
  }
  auto plan = engine::convert::PlanQuantization(**source, args.options);
  if (!plan.ok()) {
    std::fprintf(stderr, "hearth quantize: %s: %s\n", args.in.c_str(),
                 std::string(plan.status().message()).c_str());
    return kExitFailed;
  }
  if (args.dry_run) {
    PrintPlan(*plan);
    return kExitOk;
  }
  std::set<std::string> lossy_sources;
  int64_t requantized = 0;
  for (const TensorPlan& p : *plan) {
    if (!p.requantized()) continue;
    ++requantized;
    lossy_sources.insert(std::string(p.source->traits->name));
  }
  if (requantized > 0) {
    std::fprintf(stderr,
                 "hearth quantize: warning: %lld tensors are re-quantized from already quantized "
                 "types (%s): their error adds to the new type's. Quantize from an F32/F16/BF16 "
                 "file when you have one.\n",
                 static_cast<long long>(requantized), absl::StrJoin(lossy_sources, ", ").c_str());
  }
  const int threads = args.threads > 0
                          ? args.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  ProgressBar bar;
  auto on_progress = [&](const engine::convert::QuantizeProgress& p) {
    if (args.quiet) return;
    bar.Update(p.elements_total == 0 ? 1.0 : double(p.elements_done) / p.elements_total,
               absl::StrCat(p.tensors_done, "/", p.tensors_total, "  ", p.current->source->name,
                            " ", TypeName(p.current->type)));
  };
  auto stats = engine::convert::QuantizeModel(**source, *plan, args.options.type, args.out, threads,
                                              on_progress);
  bar.Done();
  if (!stats.ok()) {
    std::fprintf(stderr, "hearth quantize: %s\n", std::string(stats.status().message()).c_str());
    return kExitFailed;
  }
  std::vector<std::string> by_type;
  for (const auto& [name, n] : stats->tensors_by_type)
    by_type.push_back(absl::StrCat(n, " ", name));
  std::printf(
      "hearth quantize: wrote %s: %zu tensors (%s; %lld copied), %s -> %s in %.1f s "
      "with %d threads\n",
      args.out.c_str(), plan->size(), absl::StrJoin(by_type, ", ").c_str(),
      static_cast<long long>(stats->tensors_copied), Mib(stats->input_bytes).c_str(),
      Mib(stats->output_bytes).c_str(), stats->seconds, threads);
  return kExitOk;
}

}  // namespace hearth::server
