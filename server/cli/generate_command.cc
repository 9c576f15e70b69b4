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

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "engine/constraint/constraint_compiler.h"
#include "engine/constraint/tokenizer_vocabulary.h"
#include "engine/engine.h"
#include "engine/tokenizer/chat_template.h"
#include "server/cli/flag_check.h"
#include "server/cli/model_path.h"
#include "server/models/model_source.h"

ABSL_FLAG(std::string, model, "",
          "GGUF model path or Ollama store name (default: the default model under models/)");
ABSL_FLAG(std::string, prompt, "", "prompt text; with --chat, the first user message");
ABSL_FLAG(bool, chat, false,
          "format the prompt with the model's chat template; without --prompt, an interactive "
          "chat reading one user message per line from stdin");
ABSL_FLAG(std::string, system, "", "system message for --chat");
ABSL_FLAG(int32_t, max_tokens, 256, "most tokens to generate per reply");
ABSL_FLAG(double, temperature, 0.7, "sampling temperature (0: greedy)");
ABSL_FLAG(double, top_p, 0.9, "nucleus sampling mass in (0, 1]");
ABSL_FLAG(int32_t, top_k, 0, "keep the k most likely tokens (0: off)");
ABSL_FLAG(double, min_p, 0.0, "keep tokens with p >= min_p * p_max (0: off)");
ABSL_FLAG(double, repetition_penalty, 1.0, "HF-style repetition penalty (1: off)");
ABSL_FLAG(int64_t, seed, -1, "random seed (-1: random)");
ABSL_FLAG(std::vector<std::string>, stop, {}, "comma-separated stop strings");
ABSL_FLAG(int32_t, threads, 2, "compute threads");
ABSL_FLAG(std::string, cpu_precision, "q8",
          "CPU matmul activations: q8 (fast) or f32 (matches a float reference)");
ABSL_FLAG(std::string, device, "auto", "device: auto, cpu, cuda or cuda:N");
ABSL_FLAG(int32_t, gpu_layers, -1, "layers on the GPU, the rest on the CPU (-1: all)");
ABSL_FLAG(std::string, devices, "",
          "explicit split by layer range, e.g. cpu:0-14,cpu:15-29 (see README: devices)");
ABSL_FLAG(int64_t, kv_cache_mb, 512, "KV cache size in MiB");
ABSL_FLAG(std::string, kv_cache_dtype, "auto",
          "KV cache element type: auto (f32 with --cpu_precision f32, else f16), f16 or f32");
ABSL_FLAG(std::string, json_schema, "",
          "structured output: a JSON schema the reply must follow (JSON text, or @FILE)");
ABSL_FLAG(std::string, regex, "", "structured output: a regex the whole reply must match");
ABSL_FLAG(std::string, grammar, "", "structured output: a GBNF grammar (text, or @FILE)");
ABSL_FLAG(std::vector<std::string>, choice, {}, "structured output: comma-separated choices");
ABSL_FLAG(bool, stats, false, "print tokens/s and time to first token to stderr after each reply");

namespace hearth::server {
namespace {

using engine::tokenizer::ChatMessage;

struct ReplyStats {
  int tokens = 0;
  double ttft = 0;
  double total = 0;
};

// Text of a flag value, or the contents of FILE for "@FILE".
absl::StatusOr<std::string> TextOrFile(const std::string& value) {
  if (value.empty() || value[0] != '@') return value;
  std::ifstream in(value.substr(1));
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", value.substr(1)));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The constraint the flags ask for (null for none).
absl::StatusOr<std::shared_ptr<const constraint::CompiledConstraint>> ConstraintFromFlags(
    const engine::tokenizer::Tokenizer& tok) {
  using Kind = constraint::ConstraintSpec::Kind;
  constraint::ConstraintSpec spec;
  if (!absl::GetFlag(FLAGS_json_schema).empty()) {
    ASSIGN_OR_RETURN(spec.text, TextOrFile(absl::GetFlag(FLAGS_json_schema)));
    spec.kind = Kind::kJsonSchema;
  } else if (!absl::GetFlag(FLAGS_regex).empty()) {
    spec = {Kind::kRegex, absl::GetFlag(FLAGS_regex), {}};
  } else if (!absl::GetFlag(FLAGS_grammar).empty()) {
    ASSIGN_OR_RETURN(spec.text, TextOrFile(absl::GetFlag(FLAGS_grammar)));
    spec.kind = Kind::kGrammar;
  } else if (!absl::GetFlag(FLAGS_choice).empty()) {
    spec = {Kind::kChoice, "", absl::GetFlag(FLAGS_choice)};
  } else {
    return nullptr;
  }
  constraint::ConstraintCompiler compiler(constraint::VocabularyFromTokenizer(tok));
  return compiler.Compile(spec);
}

// Streams one reply to stdout; returns its text.
absl::StatusOr<std::string> StreamReply(
    engine::Engine& engine, std::vector<int32_t> prompt, ReplyStats* stats,
    const std::shared_ptr<const constraint::CompiledConstraint>& constraint) {
  engine::Request request;
  request.prompt_tokens = std::move(prompt);
  sampler::SamplingParams& p = request.params;
  p.constraint = constraint;
  p.max_tokens = absl::GetFlag(FLAGS_max_tokens);
  p.temperature = static_cast<float>(absl::GetFlag(FLAGS_temperature));
  p.top_p = static_cast<float>(absl::GetFlag(FLAGS_top_p));
  p.top_k = absl::GetFlag(FLAGS_top_k);
  p.min_p = static_cast<float>(absl::GetFlag(FLAGS_min_p));
  p.repetition_penalty = static_cast<float>(absl::GetFlag(FLAGS_repetition_penalty));
  if (absl::GetFlag(FLAGS_seed) >= 0) p.seed = static_cast<uint64_t>(absl::GetFlag(FLAGS_seed));
  p.stop = absl::GetFlag(FLAGS_stop);
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

void PrintStats(const ReplyStats& s) {
  if (!absl::GetFlag(FLAGS_stats)) return;
  const double decode = s.total - s.ttft;
  std::fprintf(stderr, "[%d tokens, time to first token %.0f ms, %.1f tokens/s]\n", s.tokens,
               s.ttft * 1e3, s.tokens > 1 && decode > 0 ? (s.tokens - 1) / decode : 0.0);
}

// The engine settings of the flags (max_model_len: the model's, capped to the cache).
absl::StatusOr<engine::EngineConfig> GenerateEngineConfig() {
  engine::EngineConfig config;
  config.device.threads = absl::GetFlag(FLAGS_threads);
  const auto precision = engine::cpu::ParseActPrecision(absl::GetFlag(FLAGS_cpu_precision));
  if (!precision.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("--cpu_precision must be q8 or f32, got '",
                                                   absl::GetFlag(FLAGS_cpu_precision), "'"));
  }
  config.device.cpu_precision = *precision;
  if (absl::GetFlag(FLAGS_device) != "auto") {
    ASSIGN_OR_RETURN(config.device.device, engine::ParseDeviceId(absl::GetFlag(FLAGS_device)));
  }
  config.device.gpu_layers = absl::GetFlag(FLAGS_gpu_layers);
  ASSIGN_OR_RETURN(config.device.devices, engine::ParseStageSpecs(absl::GetFlag(FLAGS_devices)));
  config.kv_cache.bytes = absl::GetFlag(FLAGS_kv_cache_mb) << 20;
  const std::string dtype = absl::GetFlag(FLAGS_kv_cache_dtype);
  if (dtype != "auto") {
    config.kv_cache.dtype = engine::ParseKvDtype(dtype);
    if (!config.kv_cache.dtype.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--kv_cache_dtype must be auto, f16 or f32, got '", dtype, "'"));
    }
  }
  config.kv_cache.swap_space_bytes = 0;
  config.scheduler.max_num_seqs = 4;
  RETURN_IF_ERROR(config.Validate());
  return config;
}

}  // namespace

int RunGenerate(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "hearth generate [--model PATH] [--prompt TEXT] [--chat] [sampling flags]");
  if (absl::Status st = CheckFlags(argc, argv); !st.ok()) {
    std::fprintf(stderr, "hearth generate: %s (--help for usage)\n",
                 std::string(st.message()).c_str());
    return 2;
  }
  absl::ParseCommandLine(argc, argv);
  std::string path = absl::GetFlag(FLAGS_model);
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
  auto config = GenerateEngineConfig();
  if (!config.ok()) {
    std::fprintf(stderr, "hearth generate: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  auto engine = engine::Engine::Create(**model, *config);
  if (!engine.ok()) {
    std::fprintf(stderr, "hearth generate: %s\n", std::string(engine.status().message()).c_str());
    return 1;
  }
  const engine::tokenizer::Tokenizer& tok = (*engine)->tokenizer();
  auto constraint = ConstraintFromFlags(tok);
  if (!constraint.ok()) {
    std::fprintf(stderr, "hearth generate: %s\n",
                 std::string(constraint.status().message()).c_str());
    return 2;
  }

  const std::string prompt = absl::GetFlag(FLAGS_prompt);
  if (!absl::GetFlag(FLAGS_chat)) {
    if (prompt.empty()) {
      std::fprintf(stderr, "hearth generate: give --prompt TEXT, or --chat\n");
      return 2;
    }
    std::fputs(prompt.c_str(), stdout);
    if (std::fflush(stdout) != 0) {
      std::fprintf(stderr, "hearth generate: cannot write the output: %s\n", std::strerror(errno));
      return 1;
    }
    ReplyStats stats;
    auto reply =
        StreamReply(**engine, tok.Encode(prompt, {.add_special = true}), &stats, *constraint);
    if (!reply.ok()) {
      std::fprintf(stderr, "hearth generate: %s\n", std::string(reply.status().message()).c_str());
      return 1;
    }
    PrintStats(stats);
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
  if (!absl::GetFlag(FLAGS_system).empty()) {
    messages.push_back({"system", absl::GetFlag(FLAGS_system)});
  }
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
    auto reply = StreamReply(**engine,
                             tok.Encode(chat->text, {.add_special = true,
                                                     .parse_special = true,
                                                     .literal_spans = chat->content_spans}),
                             &stats, *constraint);
    if (!reply.ok()) {
      std::fprintf(stderr, "hearth generate: %s\n", std::string(reply.status().message()).c_str());
      if (!interactive) return 1;
      messages.pop_back();
      continue;
    }
    PrintStats(stats);
    messages.push_back({"assistant", *reply});
    if (!interactive) break;
  }
  return 0;
}

}  // namespace hearth::server
