#include "server/cli/synth_model_command.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/convert/quantize_plan.h"
#include "engine/convert/synthetic_model.h"
#include "server/cli/cli_args.h"
#include "server/cli/progress_bar.h"

namespace hearth::server {
namespace {

using engine::convert::SyntheticModelSpec;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

void PrintUsage(std::FILE* out) {
  std::fprintf(out,
               "usage: hearth synth-model OUT.gguf [--preset %s]\n"
               "         [--arch llama] [--layers N] [--dim D] [--ffn F] [--heads H] "
               "[--kv-heads K]\n"
               "         [--vocab V] [--context C] [--experts E --experts-used U] [--rope-base B]\n"
               "         [--type TYPE] [--seed S] [--tied] [--name NAME] [--threads N] "
               "[--quiet]\n\n"
               "Random weights written straight in TYPE (default q4_k; one of %s) with a\n"
               "byte-level tokenizer and the Llama 3 chat template. Flags override the preset "
               "(default tiny).\n",
               engine::convert::SyntheticPresetNames(), engine::convert::QuantTypeNames().c_str());
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "hearth synth-model: %s\n\n", message.c_str());
  PrintUsage(stderr);
  return kExitUsage;
}

// Applies the command line to `spec`; an error message, empty on success.
std::string Apply(const CliArgs& cli, SyntheticModelSpec* spec, int* threads) {
  if (cli.values.count("arch") && cli.values.at("arch") != "llama") {
    return absl::StrCat("--arch: only llama is supported, got '", cli.values.at("arch"), "'");
  }
  struct IntFlag {
    const char* name;
    int32_t* field;
    int64_t lo, hi;
  };
  const IntFlag ints[] = {
      {"layers", &spec->layers, 1, 1024},
      {"dim", &spec->dim, 32, 1 << 17},
      {"ffn", &spec->ffn, 32, 1 << 20},
      {"heads", &spec->heads, 1, 1024},
      {"kv-heads", &spec->kv_heads, 1, 1024},
      {"vocab", &spec->vocab, 1, 1 << 22},
      {"context", &spec->context, 1, 1 << 24},
      {"experts", &spec->experts, 0, 1024},
      {"experts-used", &spec->experts_used, 0, 1024},
  };
  for (const IntFlag& f : ints) {
    if (!cli.values.count(f.name)) continue;
    auto v = cli.Int(f.name, f.lo, f.hi);
    if (!v.ok()) return std::string(v.status().message());
    *f.field = static_cast<int32_t>(*v);
  }
  if (cli.values.count("experts") && !cli.values.count("experts-used") && spec->experts > 0 &&
      spec->experts_used == 0) {
    spec->experts_used = std::min(2, spec->experts);
  }
  if (cli.values.count("experts") && spec->experts == 0) spec->experts_used = 0;
  if (cli.values.count("seed")) {
    auto v = cli.Int("seed", 0, std::numeric_limits<int64_t>::max());
    if (!v.ok()) return std::string(v.status().message());
    spec->seed = static_cast<uint64_t>(*v);
  }
  if (cli.values.count("threads")) {
    auto v = cli.Int("threads", 1, 1024);
    if (!v.ok()) return std::string(v.status().message());
    *threads = static_cast<int>(*v);
  }
  if (cli.values.count("rope-base")) {
    char* end = nullptr;
    const std::string& text = cli.values.at("rope-base");
    spec->rope_base = std::strtof(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0' || !(spec->rope_base > 0)) {
      return absl::StrCat("--rope-base must be a positive number, got '", text, "'");
    }
  }
  if (cli.values.count("type")) {
    auto type = engine::convert::ParseQuantType(cli.values.at("type"));
    if (!type.ok()) return absl::StrCat("--type: ", type.status().message());
    spec->type = *type;
  }
  if (cli.values.count("name")) spec->name = cli.values.at("name");
  if (cli.switches.count("tied")) spec->tied_embeddings = true;
  if (absl::Status st = spec->Validate(); !st.ok()) return std::string(st.message());
  return "";
}

}  // namespace

int RunSynthModel(int argc, char** argv) {
  auto cli = ParseCliArgs(
      argc, argv,
      {"preset", "arch", "layers", "dim", "ffn", "heads", "kv-heads", "vocab", "context", "experts",
       "experts-used", "rope-base", "type", "seed", "name", "threads"},
      {"tied", "quiet"});
  if (!cli.ok()) return Usage(std::string(cli.status().message()));
  if (cli->help) {
    PrintUsage(stdout);
    return kExitOk;
  }
  if (cli->positional.size() != 1) {
    return Usage(
        absl::StrCat("expected OUT.gguf, got ", cli->positional.size(), " positional arguments"));
  }
  auto spec = engine::convert::SyntheticPreset(
      cli->values.count("preset") ? cli->values.at("preset") : "tiny");
  if (!spec.ok()) return Usage(absl::StrCat("--preset: ", spec.status().message()));
  int threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (std::string error = Apply(*cli, &*spec, &threads); !error.empty()) return Usage(error);

  const bool quiet = cli->switches.count("quiet") > 0;
  ProgressBar bar;
  auto on_progress = [&](const engine::convert::SynthProgress& p) {
    if (quiet) return;
    bar.Update(p.bytes_total == 0 ? 1.0 : double(p.bytes_done) / p.bytes_total,
               absl::StrCat(p.tensors_done, "/", p.tensors_total, "  ", *p.current));
  };
  const std::string& out = cli->positional[0];
  auto stats = engine::convert::WriteSyntheticModel(*spec, out, threads, on_progress);
  bar.Done();
  if (!stats.ok()) {
    std::fprintf(stderr, "hearth synth-model: %s\n", std::string(stats.status().message()).c_str());
    return kExitFailed;
  }
  std::printf(
      "hearth synth-model: wrote %s: %s, %d layers, dim %d, ffn %d, heads %d/%d, vocab %d%s, "
      "%s parameters, %lld tensors, %.1f MiB in %.1f s\n",
      out.c_str(), std::string(engine::GetTypeTraits(spec->type).name).c_str(), spec->layers,
      spec->dim, spec->ffn, spec->heads, spec->kv_heads, spec->vocab,
      spec->experts > 0
          ? absl::StrCat(", ", spec->experts, " experts (", spec->experts_used, " used)").c_str()
          : "",
      spec->ParameterCount() >= 1e9
          ? absl::StrFormat("%.2fB", spec->ParameterCount() / 1e9).c_str()
          : absl::StrFormat("%.1fM", spec->ParameterCount() / 1e6).c_str(),
      static_cast<long long>(stats->tensors), stats->bytes / 1048576.0, stats->seconds);
  return kExitOk;
}

}  // namespace hearth::server
