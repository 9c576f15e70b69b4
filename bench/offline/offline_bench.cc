// Offline throughput of the Engine (continuous batching over the paged KV cache):
//
//   1. throughput: N requests (prompts 32-512 tokens, outputs 64-256) submitted at once;
//      total and output tokens/s, and the KV slot waste sampled at every step;
//   2. scaling: output tokens/s at max_num_seqs = 1, 4, 16, 32, 64 (2 x concurrency
//      requests of 64 prompt + 64 output tokens), as a ratio to the single-stream figure;
//   3. shared prefix: 50 requests behind one 1,000-token system prompt, mean time to first
//      token with the prefix cache on and off.
//
//   hearth_offline_bench --model models/SmolLM2-135M-Instruct.Q4_1.gguf --threads 2
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "engine/engine.h"

ABSL_FLAG(std::string, model, "models/SmolLM2-135M-Instruct.Q4_1.gguf", "GGUF model");
ABSL_FLAG(int32_t, threads, 2, "compute threads");
ABSL_FLAG(int32_t, num_requests, 200, "requests in the throughput workload");
ABSL_FLAG(std::string, sections, "throughput,scaling,prefix", "which workloads to run");

namespace hearth::engine {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<int32_t> RandomTokens(std::mt19937& rng, int32_t n) {
  std::uniform_int_distribution<int32_t> dist(100, 49000);
  std::vector<int32_t> out(n);
  for (auto& t : out) t = dist(rng);
  return out;
}

Request MakeRequest(std::vector<int32_t> prompt, int32_t max_tokens) {
  Request r;
  r.prompt_tokens = std::move(prompt);
  r.params.temperature = 0;
  r.params.max_tokens = max_tokens;
  r.params.ignore_eos = true;
  return r;
}

EngineConfig BaseConfig() {
  EngineConfig c;
  c.device.threads = absl::GetFlag(FLAGS_threads);
  c.kv_cache.bytes = int64_t{2} << 30;
  c.kv_cache.swap_space_bytes = 0;
  c.scheduler.max_model_len = 2048;
  c.scheduler.max_num_seqs = 64;
  c.scheduler.max_num_batched_tokens = 512;
  return c;
}

struct RunResult {
  double seconds = 0;
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  double mean_ttft = 0;
  double mean_waste = 0;
};

RunResult Run(const LoadedModel& model, const EngineConfig& config, std::vector<Request> requests) {
  double waste_sum = 0;
  int64_t waste_steps = 0;
  EngineHooks hooks;
  Engine* engine_ptr = nullptr;
  hooks.on_step = [&](const scheduler::SchedulerStep&) {
    // Sampled on the engine thread after each step: the published snapshot is current.
    const EngineStats s = engine_ptr->Stats();
    if (s.scheduler.num_running > 0) {
      waste_sum += s.scheduler.kv_slot_waste;
      ++waste_steps;
    }
  };
  auto engine = Engine::Create(model, config, hooks);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", std::string(engine.status().message()).c_str());
    std::exit(1);
  }
  engine_ptr = engine->get();
  RunResult r;
  for (const auto& q : requests) r.prompt_tokens += q.prompt_tokens.size();
  const double start = Now();
  auto results = (*engine)->Generate(std::move(requests));
  r.seconds = Now() - start;
  if (!results.ok()) {
    std::fprintf(stderr, "%s\n", std::string(results.status().message()).c_str());
    std::exit(1);
  }
  for (const auto& samples : *results) {
    r.output_tokens += samples[0].token_ids.size();
    r.mean_ttft += samples[0].usage.time_to_first_token_seconds;
  }
  r.mean_ttft /= std::max<size_t>(1, results->size());
  r.mean_waste = waste_steps > 0 ? waste_sum / waste_steps : 0;
  return r;
}

void Throughput(const LoadedModel& model) {
  std::mt19937 rng(1);
  std::uniform_int_distribution<int32_t> prompt_len(32, 512), output_len(64, 256);
  std::vector<Request> requests;
  for (int i = 0; i < absl::GetFlag(FLAGS_num_requests); ++i) {
    const int32_t p = prompt_len(rng);
    requests.push_back(MakeRequest(RandomTokens(rng, p), output_len(rng)));
  }
  const size_t n = requests.size();
  RunResult r = Run(model, BaseConfig(), std::move(requests));
  std::printf(
      "throughput: %zu requests in %.1f s: %.1f total tokens/s, %.1f output tokens/s, "
      "mean KV slot waste %.2f%%\n",
      n, r.seconds, (r.prompt_tokens + r.output_tokens) / r.seconds, r.output_tokens / r.seconds,
      100 * r.mean_waste);
}

void Scaling(const LoadedModel& model) {
  std::printf("scaling (prompt 64, output 64, 2 x concurrency requests):\n");
  std::printf("  %-12s %14s %10s\n", "concurrency", "output tok/s", "vs 1");
  double single = 0;
  for (int32_t c : {1, 4, 16, 32, 64}) {
    std::mt19937 rng(2);
    std::vector<Request> requests;
    for (int i = 0; i < 2 * c; ++i) requests.push_back(MakeRequest(RandomTokens(rng, 64), 64));
    EngineConfig config = BaseConfig();
    config.scheduler.max_num_seqs = c;
    config.scheduler.max_num_batched_tokens = std::max(512, c * 64);
    RunResult r = Run(model, config, std::move(requests));
    const double tps = r.output_tokens / r.seconds;
    if (c == 1) single = tps;
    std::printf("  %-12d %14.1f %9.2fx\n", c, tps, tps / single);
  }
}

void SharedPrefix(const LoadedModel& model) {
  std::mt19937 rng(3);
  const std::vector<int32_t> system = RandomTokens(rng, 1000);
  std::vector<Request> requests;
  for (int i = 0; i < 50; ++i) {
    std::vector<int32_t> prompt = system;
    for (int32_t t : RandomTokens(rng, 32)) prompt.push_back(t);
    requests.push_back(MakeRequest(std::move(prompt), 16));
  }
  for (bool caching : {false, true}) {
    EngineConfig config = BaseConfig();
    config.scheduler.enable_prefix_caching = caching;
    RunResult r = Run(model, config, requests);
    std::printf(
        "shared 1000-token prefix, 50 requests, prefix cache %-3s: %.1f s, mean TTFT "
        "%.2f s\n",
        caching ? "on" : "off", r.seconds, r.mean_ttft);
  }
}

}  // namespace
}  // namespace hearth::engine

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto model = hearth::engine::LoadedModel::Open(absl::GetFlag(FLAGS_model));
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  const std::string sections = absl::GetFlag(FLAGS_sections);
  if (sections.find("throughput") != std::string::npos) hearth::engine::Throughput(**model);
  if (sections.find("scaling") != std::string::npos) hearth::engine::Scaling(**model);
  if (sections.find("prefix") != std::string::npos) hearth::engine::SharedPrefix(**model);
  return 0;
}
