#include "server/cli/generate_command.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/engine.h"
#include "engine/tokenizer/chat_template.h"
#include "server/cli/flag_check.h"
#include "server/cli/model_path.h"

ABSL_FLAG(std::string, model, "", "GGUF model path (default: the default model under models/)");
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
ABSL_FLAG(int64_t, kv_cache_mb, 512, "KV cache size in MiB");
ABSL_FLAG(std::string, kv_cache_dtype, "auto",
          "KV cache element type: auto (f32 with --cpu_precision f32, else f16), f16 or f32");
ABSL_FLAG(bool, stats, false, "print tokens/s and time to first token to stderr after each reply");

namespace hearth::server {
namespace {

using engine::tokenizer::ChatMessage;

struct ReplyStats {
  int tokens = 0;
  double ttft = 0;
  double total = 0;
};

// Streams one reply to stdout; returns its text.
absl::StatusOr<std::string> StreamReply(engine::Engine& engine, std::vector<int32_t> prompt,
                                        ReplyStats* stats) {
  engine::Request request;
  request.prompt_tokens = std::move(prompt);
  sampler::SamplingParams& p = request.params;
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

  auto model = engine::LoadedModel::Open(path);
  if (!model.ok()) {
    std::fprintf(stderr, "hearth generate: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  engine::EngineConfig config;
  config.num_threads = absl::GetFlag(FLAGS_threads);
  config.cpu_precision = absl::GetFlag(FLAGS_cpu_precision);
  config.kv_cache_bytes = absl::GetFlag(FLAGS_kv_cache_mb) << 20;
  config.kv_cache_dtype = absl::GetFlag(FLAGS_kv_cache_dtype);
  config.swap_space_bytes = 0;
  config.max_num_seqs = 4;
  int32_t ctx = (*model)->config().context_length;
  const int64_t bytes_per_token = 2ll * (*model)->config().num_layers *
                                  (*model)->config().kv_dim() * config.KvCacheElementBytes();
  const int64_t cache_tokens = config.kv_cache_bytes / bytes_per_token;
  if (ctx <= 0 || ctx > cache_tokens) ctx = static_cast<int32_t>(cache_tokens / 16 * 16);
  config.max_model_len = ctx;
  auto engine = engine::Engine::Create(**model, config);
  if (!engine.ok()) {
    std::fprintf(stderr, "hearth generate: %s\n", std::string(engine.status().message()).c_str());
    return 1;
  }
  const engine::tokenizer::Tokenizer& tok = (*engine)->tokenizer();

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
    auto reply = StreamReply(**engine, tok.Encode(prompt, {.add_special = true}), &stats);
    if (!reply.ok()) {
      std::fprintf(stderr, "hearth generate: %s\n", std::string(reply.status().message()).c_str());
      return 1;
    }
    PrintStats(stats);
    return 0;
  }

  auto chat_template = engine::tokenizer::ChatTemplate::Detect(
      tok.chat_template(), tok.bos_id() >= 0 ? tok.IdToPiece(tok.bos_id()) : "",
      tok.eos_id() >= 0 ? tok.IdToPiece(tok.eos_id()) : "");
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
                             &stats);
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
