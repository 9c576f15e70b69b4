#include "server/cli/generate_command.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/host_resources.h"
#include "common/status_macros.h"
#include "engine/constraint/constraint_compiler.h"
#include "engine/constraint/tokenizer_vocabulary.h"
#include "engine/engine.h"
#include "engine/tokenizer/chat_template.h"
#include "server/cli/args.h"
#include "server/cli/model_path.h"
#include "server/config/server_config.h"
#include "server/models/model_source.h"

namespace hearth::server {
namespace {

using cli::FlagSpec;
using cli::ParsedArgs;
using engine::tokenizer::ChatMessage;

constexpr int kExitUsage = 2;

const std::vector<FlagSpec>& Specs() {
  static const auto* specs = new std::vector<FlagSpec>{
      {"model", true,
       "PATH  GGUF model or Ollama store name (default: the default model under models/)"},
      {"prompt", true, "TEXT  prompt text; with --chat, the first user message"},
      {"chat", false,
       "format with the model's chat template; without --prompt, an interactive chat reading "
       "one user message per line from stdin"},
      {"system", true, "TEXT  system message for --chat"},
      {"max_tokens", true, "N  most tokens to generate per reply (default 256)"},
      {"temperature", true, "T  sampling temperature, 0 = greedy (default 0.7)"},
      {"top_p", true, "P  nucleus sampling mass in (0, 1] (default 0.9)"},
      {"top_k", true, "K  keep the k most likely tokens (default 0: off)"},
      {"min_p", true, "P  keep tokens with p >= min_p * p_max (default 0: off)"},
      {"repetition_penalty", true, "R  HF-style repetition penalty (default 1: off)"},
      {"seed", true, "S  random seed (default: random)"},
      {"stop", true, "TEXT  a stop string (repeat the flag for more)"},
      {"threads", true, "N  compute threads (default 0: the CPUs this process may use)"},
      {"cpu_precision", true, "q8|f32  matmul activations: q8 (fast) or f32 (float reference)"},
      {"device", true, "auto|cpu|cuda|cuda:N  where the model runs (default auto)"},
      {"gpu_layers", true, "N  layers on the GPU, the rest on the CPU (default -1: all)"},
      {"devices", true,
       "SPECS  explicit split by layer range, e.g. cpu:0-14,cpu:15-29 (see README: devices)"},
      {"kv_cache_bytes", true, "SIZE  KV cache size, e.g. 512MiB (default 512MiB)"},
      {"kv_cache_mb", true, "MB  the same in MiB (older spelling)"},
      {"kv_cache_dtype", true, "auto|f16|f32  KV element type (auto: f32 with f32 precision)"},
      {"json_schema", true, "JSON|@FILE  structured output: a JSON schema the reply must follow"},
      {"regex", true, "RE  structured output: a regex the whole reply must match"},
      {"grammar", true, "GBNF|@FILE  structured output: a GBNF grammar"},
      {"choice", true, "TEXT  structured output: one of these (repeat the flag, or a,b,c)"},
      {"stats", false, "print tokens/s and time to first token to stderr after each reply"},
      {"help", false, "this message"},
  };
  return *specs;
}

// Everything the flags say, parsed and range-checked (the constraint is compiled once the
// tokenizer is known).
struct GenerateOptions {
  std::string model;
  std::string prompt;
  bool chat = false;
  std::string system;
  bool stats = false;
  sampler::SamplingParams params;
  std::optional<constraint::ConstraintSpec> constraint;
  engine::EngineConfig engine;
};

// Text of a flag value, or the contents of FILE for "@FILE".
absl::StatusOr<std::string> TextOrFile(const std::string& flag, const std::string& value) {
  if (value.empty() || value[0] != '@') return value;
  std::ifstream in(value.substr(1));
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("flag --", flag, ": cannot read ", value.substr(1)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The constraint the flags ask for (nullopt for none); at most one.
absl::StatusOr<std::optional<constraint::ConstraintSpec>> ConstraintFromArgs(
    const ParsedArgs& args) {
  using Kind = constraint::ConstraintSpec::Kind;
  int given = 0;
  for (const char* flag : {"json_schema", "regex", "grammar", "choice"}) given += args.Has(flag);
  if (given == 0) return std::nullopt;
  if (given > 1) {
    return absl::InvalidArgumentError(
        "give at most one of --json_schema, --regex, --grammar and --choice");
  }
  constraint::ConstraintSpec spec;
  if (args.Has("json_schema")) {
    ASSIGN_OR_RETURN(spec.text, TextOrFile("json_schema", args.GetString("json_schema")));
    spec.kind = Kind::kJsonSchema;
  } else if (args.Has("regex")) {
    spec = {Kind::kRegex, args.GetString("regex"), {}};
  } else if (args.Has("grammar")) {
    ASSIGN_OR_RETURN(spec.text, TextOrFile("grammar", args.GetString("grammar")));
    spec.kind = Kind::kGrammar;
  } else {
    spec.kind = Kind::kChoice;
    for (const std::string& value : args.GetAll("choice")) {
      for (absl::string_view c : absl::StrSplit(value, ',')) spec.choices.emplace_back(c);
    }
  }
  return spec;
}

absl::StatusOr<GenerateOptions> ToOptions(const ParsedArgs& args) {
  GenerateOptions o;
  o.model = args.GetString("model");
  o.prompt = args.GetString("prompt");
  o.chat = args.GetBool("chat");
  o.system = args.GetString("system");
  o.stats = args.GetBool("stats");
  sampler::SamplingParams& p = o.params;
  ASSIGN_OR_RETURN(int64_t max_tokens, args.GetInt("max_tokens", 256));
  ASSIGN_OR_RETURN(double temperature, args.GetDouble("temperature", 0.7));
  ASSIGN_OR_RETURN(double top_p, args.GetDouble("top_p", 0.9));
  ASSIGN_OR_RETURN(int64_t top_k, args.GetInt("top_k", 0));
  ASSIGN_OR_RETURN(double min_p, args.GetDouble("min_p", 0));
  ASSIGN_OR_RETURN(double repetition_penalty, args.GetDouble("repetition_penalty", 1));
  ASSIGN_OR_RETURN(int64_t seed, args.GetInt("seed", -1));
  if (max_tokens < 1 || max_tokens > (1 << 24)) {
    return absl::InvalidArgumentError("flag --max_tokens: must be in [1, 16777216]");
  }
  p.max_tokens = static_cast<int32_t>(max_tokens);
  p.temperature = static_cast<float>(temperature);
  p.top_p = static_cast<float>(top_p);
  p.top_k = static_cast<int32_t>(top_k);
  p.min_p = static_cast<float>(min_p);
  p.repetition_penalty = static_cast<float>(repetition_penalty);
  if (seed >= 0) p.seed = static_cast<uint64_t>(seed);
  p.stop = args.GetAll("stop");
  ASSIGN_OR_RETURN(o.constraint, ConstraintFromArgs(args));

  engine::EngineConfig& e = o.engine;
  ASSIGN_OR_RETURN(int64_t threads, args.GetInt("threads", 0));
  if (threads < 0 || threads > 1024) {
    return absl::InvalidArgumentError("flag --threads: must be in [0, 1024]");
  }
  e.device.threads = threads > 0 ? static_cast<int32_t>(threads) : common::UsableCpuCount();
  const std::string precision = args.GetString("cpu_precision", "q8");
  const auto act = engine::cpu::ParseActPrecision(precision);
  if (!act.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("flag --cpu_precision: must be q8 or f32, got '", precision, "'"));
  }
  e.device.cpu_precision = *act;
  const std::string device = args.GetString("device", "auto");
  if (device != "auto") {
    auto id = engine::ParseDeviceId(device);
    if (!id.ok())
      return absl::InvalidArgumentError(absl::StrCat("flag --device: ", id.status().message()));
    e.device.device = *id;
  }
  ASSIGN_OR_RETURN(int64_t gpu_layers, args.GetInt("gpu_layers", -1));
  if (gpu_layers < -1 || gpu_layers > (1 << 20)) {
    return absl::InvalidArgumentError("flag --gpu_layers: must be -1 (all) or a layer count");
  }
  e.device.gpu_layers = static_cast<int32_t>(gpu_layers);
  auto stages = engine::ParseStageSpecs(args.GetString("devices"));
  if (!stages.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("flag --devices: ", stages.status().message()));
  }
  e.device.devices = *std::move(stages);
  const std::string dtype = args.GetString("kv_cache_dtype", "auto");
  if (dtype != "auto") {
    e.kv_cache.dtype = engine::ParseKvDtype(dtype);
    if (!e.kv_cache.dtype.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --kv_cache_dtype: must be auto, f16 or f32, got '", dtype, "'"));
    }
  }
  e.kv_cache.bytes = 512ll << 20;
  if (args.Has("kv_cache_bytes")) {
    auto bytes = ParseByteSize(args.GetString("kv_cache_bytes"));
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --kv_cache_bytes: ", bytes.status().message()));
    }
    e.kv_cache.bytes = *bytes;
  } else if (args.Has("kv_cache_mb")) {
    ASSIGN_OR_RETURN(int64_t mb, args.GetInt("kv_cache_mb", 512));
    if (mb <= 0 || mb > (int64_t{1} << 40)) {
      return absl::InvalidArgumentError("flag --kv_cache_mb: must be in [1, 2^40]");
    }
    e.kv_cache.bytes = mb << 20;
  }
  if (e.kv_cache.bytes <= 0) {
    return absl::InvalidArgumentError("flag --kv_cache_bytes: must be > 0");
  }
  e.kv_cache.swap_space_bytes = 0;
  e.scheduler.max_num_seqs = 4;
  RETURN_IF_ERROR(e.Validate());
  return o;
}

struct ReplyStats {
  int tokens = 0;
  double ttft = 0;
  double total = 0;
};

// Streams one reply to stdout; returns its text.
absl::StatusOr<std::string> StreamReply(
    engine::Engine& engine, const GenerateOptions& options, std::vector<int32_t> prompt,
    ReplyStats* stats, const std::shared_ptr<const constraint::CompiledConstraint>& constraint) {
  engine::Request request;
  request.prompt_tokens = std::move(prompt);
  request.params = options.params;
  request.params.constraint = constraint;
  auto start = std::chrono::steady_clock::now();
  auto stream = engine.Submit(std::move(request));
  if (!stream.ok()) return stream.status();
  std::string text;
  engine::RequestOutput out;
  while ((*stream)->Next(&out)) {
    if (!out.status.ok()) return out.status;
    std::fwrite(out.text.data(), 1, out.text.size(), stdout);
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
      // Disk full, closed pipe...: stop generating rather than compute text nobody gets.
      const int err = errno;
      engine.Abort((*stream)->request_id());
      while ((*stream)->Next(&out)) {
      }
      return absl::UnavailableError(absl::StrCat("cannot write the output: ", std::strerror(err)));
    }
    text += out.text;
    if (out.final()) {
      stats->tokens = out.usage.completion_tokens;
      stats->ttft = out.usage.time_to_first_token_seconds;
      if (out.finish && out.finish->reason() == sampler::FinishReason::kConstraintUnmet) {
        std::fprintf(stderr, "\n[incomplete: max_tokens ran out before the reply matched]");
      }
    }
  }
  stats->total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fputc('\n', stdout);
  if (std::fflush(stdout) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot write the output: ", std::strerror(errno)));
  }
  return text;
}

void PrintStats(const GenerateOptions& options, const ReplyStats& s) {
  if (!options.stats) return;
  const double decode = s.total - s.ttft;
  std::fprintf(stderr, "[%d tokens, time to first token %.0f ms, %.1f tokens/s]\n", s.tokens,
               s.ttft * 1e3, s.tokens > 1 && decode > 0 ? (s.tokens - 1) / decode : 0.0);
}

}  // namespace

int RunGenerate(int argc, char** argv) {
  auto args = ParsedArgs::Parse(Specs(), std::vector<std::string>(argv + 1, argv + argc));
  if (args.ok() && args->GetBool("help")) {
    std::printf(
        "usage: hearth generate [--model PATH] [--prompt TEXT] [--chat] [flags]\n\n"
        "Runs the engine in this process (no server) and streams the completion to stdout.\n\n"
        "flags:\n%s",
        cli::FormatFlags(Specs()).c_str());
    return 0;
  }
  absl::StatusOr<GenerateOptions> parsed = absl::InvalidArgumentError("");
  if (!args.ok()) {
    parsed = args.status();
  } else if (!args->positional().empty()) {
    parsed = absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", args->positional()[0], "'"));
  } else {
    parsed = ToOptions(*args);
  }
  if (!parsed.ok()) {
    std::fprintf(stderr, "hearth generate: %s\n(hearth generate --help for usage)\n",
                 std::string(parsed.status().message()).c_str());
    return kExitUsage;
  }
  const GenerateOptions& options = *parsed;
  std::string path = options.model;
  if (path.empty()) path = DefaultModelPath();
  // A file or an Ollama store name ("smollm2:135m"; server/models/model_source.h).
  auto source = ResolveModelSource(path, engine::model_store::VerifyMode::kOnce);
  if (!source.ok()) {
    std::fprintf(stderr, "hearth generate: %s\n", std::string(source.status().message()).c_str());
    return 1;
  }

  auto model = engine::LoadedModel::Open(source->gguf_path);
  if (!model.ok()) {
    std::fprintf(stderr, "hearth generate: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  // max_model_len: the model's, capped by the engine to the cache.
  auto engine = engine::Engine::Create(**model, options.engine);
  if (!engine.ok()) {
    std::fprintf(stderr, "hearth generate: %s\n", std::string(engine.status().message()).c_str());
    // A setting the engine refuses (a KV cache larger than the memory) is a usage error, as
    // in `hearth serve`; anything else (an allocation that failed) a runtime one.
    return absl::IsInvalidArgument(engine.status()) ? kExitUsage : 1;
  }
  const engine::tokenizer::Tokenizer& tok = (*engine)->tokenizer();
  std::shared_ptr<const constraint::CompiledConstraint> constraint;
  if (options.constraint.has_value()) {
    constraint::ConstraintCompiler compiler(constraint::VocabularyFromTokenizer(tok));
    auto compiled = compiler.Compile(*options.constraint);
    if (!compiled.ok()) {
      std::fprintf(stderr, "hearth generate: %s\n",
                   std::string(compiled.status().message()).c_str());
      return kExitUsage;
    }
    constraint = *std::move(compiled);
  }

  const std::string& prompt = options.prompt;
  if (!options.chat) {
    if (prompt.empty()) {
      std::fprintf(stderr, "hearth generate: give --prompt TEXT, or --chat\n");
      return kExitUsage;
    }
    std::fputs(prompt.c_str(), stdout);
    if (std::fflush(stdout) != 0) {
      std::fprintf(stderr, "hearth generate: cannot write the output: %s\n", std::strerror(errno));
      return 1;
    }
    ReplyStats stats;
    auto reply = StreamReply(**engine, options, tok.Encode(prompt, {.add_special = true}), &stats,
                             constraint);
    if (!reply.ok()) {
      std::fprintf(stderr, "hearth generate: %s\n", std::string(reply.status().message()).c_str());
      return 1;
    }
    PrintStats(options, stats);
    return 0;
  }

  const std::string bos = tok.bos_id() >= 0 ? tok.IdToPiece(tok.bos_id()) : "";
  const std::string eos = tok.eos_id() >= 0 ? tok.IdToPiece(tok.eos_id()) : "";
  ChatDefaults defaults = ChatDefaultsFor(*source, bos, eos);  // an Ollama template layer
  auto chat_template =
      defaults.chat_template
          ? absl::StatusOr<engine::tokenizer::ChatTemplate>(*defaults.chat_template)
          : engine::tokenizer::ChatTemplate::Detect(tok.chat_template(), bos, eos);
  if (!chat_template.ok()) {
    std::fprintf(stderr, "hearth generate: %s\n",
                 std::string(chat_template.status().message()).c_str());
    return 1;
  }
  std::vector<ChatMessage> messages;
  if (!options.system.empty()) messages.push_back({"system", options.system});
  const bool interactive = prompt.empty();
  if (interactive) {
    std::fprintf(stderr, "hearth: chatting with %s (empty line or Ctrl-D ends)\n", path.c_str());
  }
  std::string line = prompt;
  while (true) {
    if (interactive) {
      std::fputs("> ", stderr);
      if (!std::getline(std::cin, line) || line.empty()) break;
    }
    messages.push_back({"user", line});
    auto chat = chat_template->Render(messages, /*add_generation_prompt=*/true);
    if (!chat.ok()) {
      std::fprintf(stderr, "hearth generate: %s\n", std::string(chat.status().message()).c_str());
      return 1;
    }
    ReplyStats stats;
    // Message text (which may come from a pipe) is text even where it spells a special token.
    auto reply = StreamReply(**engine, options,
                             tok.Encode(chat->text, {.add_special = true,
                                                     .parse_special = true,
                                                     .literal_spans = chat->content_spans}),
                             &stats, constraint);
    if (!reply.ok()) {
      std::fprintf(stderr, "hearth generate: %s\n", std::string(reply.status().message()).c_str());
      if (!interactive) return 1;
      messages.pop_back();
      continue;
    }
    PrintStats(options, stats);
    messages.push_back({"assistant", *reply});
    if (!interactive) break;
  }
  return 0;
}

}  // namespace hearth::server
