// Structured output: what a constraint costs.
//
//   1. compile: per schema / regex / grammar, the time to build its grammar (median of 5), the
//      first vocabulary mask from the start state, and the mean / max cost of a mask cache miss
//      (a trie walk over the vocabulary) along a 48-token pseudo-random walk;
//   2. throughput: output tokens/s of a closed loop of requests (a new one submitted as soon as
//      one finishes) at 1 and 32 concurrent streams, constrained by a trading-signal schema vs
//      unconstrained, the same prompt and seeds; runs alternate C, U, C, U, ... so that machine
//      load drifts hit both alike, and each U run generates C's mean output length (ignore_eos),
//      so that both have the same prefill share per output token. Constrained requests share one
//      compiled constraint (the compile cache), as a bot sending the same schema does.
//
//   3. sampler: the per-token cost of Sampler::Sample + SamplerState::AppendOutput over a
//      real constrained output (the masks cached, as after warm-up), constrained vs not,
//      alternating, 31 passes (min and median): the constraint's own CPU cost per token, which the
//      throughput figures hide in machine noise.
//
//   hearth_constraint_bench --model models/SmolLM2-135M-Instruct.Q4_1.gguf --threads 2
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "engine/constraint/constraint_compiler.h"
#include "engine/constraint/matcher.h"
#include "engine/constraint/tokenizer_vocabulary.h"
#include "engine/engine.h"
#include "engine/sampler/sampler.h"

ABSL_FLAG(std::string, model, "models/SmolLM2-135M-Instruct.Q4_1.gguf", "GGUF model");
ABSL_FLAG(int32_t, threads, 2, "compute threads");
ABSL_FLAG(int32_t, rounds, 7, "alternating rounds per concurrency (each: C then U)");
ABSL_FLAG(int32_t, max_tokens, 64, "max_tokens of every request");
ABSL_FLAG(std::string, concurrency, "1,32", "concurrent streams");
ABSL_FLAG(std::string, sections, "compile,sampler,throughput", "what to run");

namespace hearth::engine {
namespace {

using constraint::ConstraintSpec;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

const char* const kSignalSchema =
    R"({"type":"object","properties":{"side":{"enum":["buy","sell"]},"size":{"type":"number"},)"
    R"("reason":{"type":"string","maxLength":80}},"required":["side","size","reason"]})";

struct Named {
  const char* name;
  ConstraintSpec spec;
};

std::vector<Named> CompileCases() {
  using K = ConstraintSpec::Kind;
  return {
      {"trading signal schema", {K::kJsonSchema, kSignalSchema, {}}},
      {"order with nested objects, enums, nullable",
       {K::kJsonSchema,
        R"({"type":"object","properties":{"order":{"type":"object","properties":{"side":{"enum":)"
        R"(["buy","sell"]},"qty":{"type":"integer"},"limit":{"type":["number","null"]},"tif":)"
        R"({"enum":["day","gtc","ioc"]}},"required":["side","qty"]},"account":{"type":"string",)"
        R"("pattern":"^[A-Z]{2}[0-9]{6}$"},"tags":{"type":"array","items":{"type":"string",)"
        R"("maxLength":16},"maxItems":5}},"required":["order","account"]})",
        {}}},
      {"recursive $ref tree",
       {K::kJsonSchema,
        R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"children":)"
        R"({"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"]}},"$ref":"#/$defs/node"})",
        {}}},
      {"string formats (date-time, uuid)",
       {K::kJsonSchema,
        R"({"type":"object","properties":{"id":{"type":"string","format":"uuid"},"at":{"type":)"
        R"("string","format":"date-time"}},"required":["id","at"]})",
        {}}},
      {"maxLength 1000 string", {K::kJsonSchema, R"({"type":"string","maxLength":1000})", {}}},
      {"json_object", {K::kJsonObject, "", {}}},
      {"regex phone", {K::kRegex, R"(\(\d{3}\) \d{3}-\d{4})", {}}},
      {"GBNF arithmetic",
       {K::kGrammar,
        "root ::= expr\nexpr ::= term ([-+] term)*\nterm ::= factor ([*/] factor)*\n"
        "factor ::= [0-9]+ | \"(\" expr \")\"",
        {}}},
  };
}

struct WalkCost {
  double first_ms = 0, miss_mean_ms = 0, miss_max_ms = 0;
};

// The first mask, then a 48-token walk taking a fixed pseudo-random allowed token each step,
// timing the masks that were cache misses.
WalkCost Walk(const std::shared_ptr<const constraint::TokenVocabulary>& vocab,
              const ConstraintSpec& spec) {
  constraint::ConstraintCompiler compiler(vocab);
  auto compiled = compiler.Compile(spec);
  WalkCost w;
  double t0 = Now();
  constraint::Matcher m(*compiled);
  m.Mask();
  w.first_ms = (Now() - t0) * 1e3;
  double miss_sum = 0;
  int misses = 0;
  uint32_t x = 12345;
  for (int step = 0; step < 48 && m.CanContinue(); ++step) {
    const int64_t before = (*compiled)->stats().mask_misses;
    t0 = Now();
    const constraint::TokenMask& mask = m.Mask();
    const double ms = (Now() - t0) * 1e3;
    if ((*compiled)->stats().mask_misses > before) {
      miss_sum += ms, w.miss_max_ms = std::max(w.miss_max_ms, ms), ++misses;
    }
    if (mask.num_allowed == 0) break;
    x = x * 1664525u + 1013904223u;
    int32_t k = static_cast<int32_t>(x % static_cast<uint32_t>(mask.num_allowed));
    for (int32_t t = 0; t < vocab->size(); ++t) {
      if (mask.Allowed(t) && k-- == 0) {
        m.Advance(t);
        break;
      }
    }
  }
  w.miss_mean_ms = misses ? miss_sum / misses : 0.0;
  return w;
}

void CompileSection(const tokenizer::Tokenizer& tok) {
  auto vocab = constraint::VocabularyFromTokenizer(tok);
  std::printf("compile (vocabulary %d tokens)\n", vocab->size());
  std::printf("  %-44s %12s %12s %12s %12s %10s\n", "constraint", "grammar ms", "1st mask ms",
              "miss mean ms", "miss max ms", "elements");
  for (const Named& c : CompileCases()) {
    std::vector<double> grammar_ms;
    size_t elements = 0;
    for (int i = 0; i < 5; ++i) {
      const double t0 = Now();
      auto g = constraint::CompileGrammar(c.spec);
      grammar_ms.push_back((Now() - t0) * 1e3);
      if (!g.ok()) {
        std::printf("  %s: %s\n", c.name, std::string(g.status().message()).c_str());
        return;
      }
      elements = g->elements.size();
    }
    std::sort(grammar_ms.begin(), grammar_ms.end());
    // Three fresh compilers (cold caches); the minimum of each figure (the machine is shared).
    double first_ms = 1e9, miss_mean = 1e9, miss_max = 1e9;
    for (int rep = 0; rep < 3; ++rep) {
      const WalkCost w = Walk(vocab, c.spec);
      first_ms = std::min(first_ms, w.first_ms);
      miss_mean = std::min(miss_mean, w.miss_mean_ms);
      miss_max = std::min(miss_max, w.miss_max_ms);
    }
    std::printf("  %-44s %12.3f %12.2f %12.2f %12.2f %10zu\n", c.name, grammar_ms[2], first_ms,
                miss_mean, miss_max, elements);
  }
}

void SamplerSection(const tokenizer::Tokenizer& tok) {
  constraint::ConstraintCompiler compiler(constraint::VocabularyFromTokenizer(tok));
  auto compiled = compiler.Compile({ConstraintSpec::Kind::kJsonSchema, kSignalSchema, {}});
  if (!compiled.ok()) return;
  const std::vector<int32_t> output = tok.Encode(
      R"({"side": "buy", "size": 0.25, "reason": "strong momentum after the earnings beat"})");
  const int32_t vocab = tok.vocab_size();
  std::vector<float> logits(vocab);
  uint32_t x = 7;
  for (float& l : logits) {
    x = x * 1664525u + 1013904223u;
    l = static_cast<float>(x >> 8) / static_cast<float>(1 << 24) * 10.0f - 5.0f;
  }
  sampler::Sampler sampler;
  const std::vector<int32_t> eos = tok.stop_ids();
  auto pass = [&](bool constrained) {
    sampler::SamplingParams p;
    p.temperature = 1.0f;
    if (constrained) p.constraint = *compiled;
    auto state = sampler::SamplerState::Create(p, {}, eos);
    const double t0 = Now();
    for (int32_t t : output) {
      // Sample from a copy (it records its own draw), then follow the planned output.
      sampler::SamplerState scratch = *state;
      (void)sampler.Sample(logits.data(), vocab, scratch);
      state->AppendOutput(t);
    }
    return (Now() - t0) * 1e6 / static_cast<double>(output.size());
  };
  pass(true);  // fills the mask cache
  std::vector<double> u, c;
  for (int i = 0; i < 31; ++i) {
    u.push_back(pass(false));
    c.push_back(pass(true));
  }
  std::sort(u.begin(), u.end());
  std::sort(c.begin(), c.end());
  std::printf("sampler (vocab %d, %zu-token trading signal, masks cached; 31 passes)\n", vocab,
              output.size());
  std::printf("  min:    unconstrained %.1f us/token, constrained %.1f us/token: %+.1f us/token\n",
              u[0], c[0], c[0] - u[0]);
  std::printf("  median: unconstrained %.1f us/token, constrained %.1f us/token: %+.1f us/token\n",
              u[15], c[15], c[15] - u[15]);
}

EngineConfig Config() {
  EngineConfig c;
  c.device.threads = absl::GetFlag(FLAGS_threads);
  c.kv_cache.bytes = int64_t{1} << 30;
  c.kv_cache.swap_space_bytes = 0;
  c.scheduler.max_model_len = 1024;
  c.scheduler.max_num_seqs = 64;
  c.scheduler.max_num_batched_tokens = 512;
  return c;
}

struct LoopResult {
  double seconds = 0;
  int64_t tokens = 0;
  int requests = 0;
  int unmet = 0;
};

// Keeps `concurrency` requests in flight until `total` have finished.
LoopResult ClosedLoop(Engine& engine, const Request& base, int concurrency, int total,
                      uint64_t seed0) {
  absl::Mutex mu;
  int in_flight = 0, finished = 0;
  LoopResult r;
  const double t0 = Now();
  for (int submitted = 0; submitted < total; ++submitted) {
    {
      absl::MutexLock lock(&mu);
      auto room = [&] { return in_flight < concurrency; };
      mu.Await(absl::Condition(&room));
      ++in_flight;
    }
    Request req = base;
    req.params.seed = seed0 + static_cast<uint64_t>(submitted);
    auto id = engine.Submit(std::move(req), [&](RequestOutput out) {
      absl::MutexLock lock(&mu);
      r.tokens += static_cast<int64_t>(out.token_ids.size());
      if (out.final()) {
        --in_flight;
        ++finished;
        if (out.finish && out.finish->reason() == sampler::FinishReason::kConstraintUnmet)
          ++r.unmet;
      }
    });
    if (!id.ok()) {
      std::fprintf(stderr, "submit: %s\n", std::string(id.status().message()).c_str());
      absl::MutexLock lock(&mu);
      --in_flight;
      ++finished;
    }
  }
  absl::MutexLock lock(&mu);
  auto done = [&] { return finished == total; };
  mu.Await(absl::Condition(&done));
  r.seconds = Now() - t0;
  r.requests = total;
  return r;
}

int ThroughputSection(const LoadedModel& model) {
  auto engine = Engine::Create(model, Config());
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", std::string(engine.status().message()).c_str());
    return 1;
  }
  const tokenizer::Tokenizer& tok = (*engine)->tokenizer();
  constraint::ConstraintCompiler compiler(constraint::VocabularyFromTokenizer(tok));
  auto compiled = compiler.Compile({ConstraintSpec::Kind::kJsonSchema, kSignalSchema, {}});
  if (!compiled.ok()) return 1;
  Request base;
  base.prompt_tokens = tok.Encode(
      "<|im_start|>system\nYou are a trading bot. Answer with JSON only.<|im_end|>\n"
      "<|im_start|>user\nGive a trading signal for AAPL: side, size and a short reason."
      "<|im_end|>\n<|im_start|>assistant\n",
      {.add_special = true, .parse_special = true});
  base.params.temperature = 1.0f;
  base.params.max_tokens = absl::GetFlag(FLAGS_max_tokens);
  Request constrained = base;
  constrained.params.constraint = *compiled;

  std::printf(
      "throughput (closed loop, max_tokens %d, temperature 1.0; U = unconstrained, "
      "C = trading-signal schema)\n",
      absl::GetFlag(FLAGS_max_tokens));
  std::vector<int> levels;
  for (const char* p = absl::GetFlag(FLAGS_concurrency).c_str(); *p;) {
    levels.push_back(std::atoi(p));
    while (*p && *p != ',') ++p;
    if (*p == ',') ++p;
  }
  // Warm-up: page in the weights, fill the prefix cache and the first masks.
  ClosedLoop(**engine, base, 4, 4, 1);
  ClosedLoop(**engine, constrained, 4, 4, 1);
  for (int conc : levels) {
    const int total = std::max(8, conc * 2);
    std::vector<double> ratios;
    for (int round = 0; round < absl::GetFlag(FLAGS_rounds); ++round) {
      // C first; U then generates exactly C's mean output length (ignore_eos), so both runs
      // have the same prefill share per output token and differ only by the constraint.
      Request unconstrained = base;
      double tps[2] = {0, 0};
      for (int mode = 0; mode < 2; ++mode) {
        const LoopResult r = ClosedLoop(**engine, mode == 0 ? constrained : unconstrained, conc,
                                        total, 1000 + 100 * static_cast<uint64_t>(round));
        tps[mode] = static_cast<double>(r.tokens) / r.seconds;
        std::printf(
            "  streams %2d round %d %s: %7.1f output tokens/s  (%d requests, %.1f tokens "
            "each, %d constraint_unmet, %.2f s)\n",
            conc, round, mode == 0 ? "C" : "U", tps[mode], r.requests,
            static_cast<double>(r.tokens) / r.requests, r.unmet, r.seconds);
        if (mode == 0) {
          unconstrained.params.ignore_eos = true;
          unconstrained.params.max_tokens = std::max<int32_t>(
              1, static_cast<int32_t>(static_cast<double>(r.tokens) / r.requests + 0.5));
        }
      }
      ratios.push_back(tps[0] / tps[1]);
    }
    std::vector<double> sorted = ratios;
    std::sort(sorted.begin(), sorted.end());
    std::printf("  streams %2d: C / U per round:", conc);
    for (double r : ratios) std::printf(" %.3f", r);
    std::printf("; median %.3f\n", sorted[sorted.size() / 2]);
  }
  const auto stats = (*compiled)->stats();
  std::printf("  mask cache: %lld hits, %lld misses, %zu stack nodes\n",
              static_cast<long long>(stats.mask_hits), static_cast<long long>(stats.mask_misses),
              stats.stack_nodes);
  return 0;
}

}  // namespace
}  // namespace hearth::engine

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows when redirected to a file
  using namespace hearth::engine;
  auto model = LoadedModel::Open(absl::GetFlag(FLAGS_model));
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  const std::string sections = absl::GetFlag(FLAGS_sections);
  if (sections.find("compile") != std::string::npos) {
    auto tok = tokenizer::Tokenizer::FromGguf((*model)->file());
    if (!tok.ok()) return 1;
    CompileSection(**tok);
  }
  if (sections.find("sampler") != std::string::npos) {
    auto tok = tokenizer::Tokenizer::FromGguf((*model)->file());
    if (!tok.ok()) return 1;
    SamplerSection(**tok);
  }
  if (sections.find("throughput") != std::string::npos) return ThroughputSection(**model);
  return 0;
}
