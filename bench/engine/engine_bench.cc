// hearth_engine_bench: CPU forward-pass throughput on a real model.
//
//   hearth_engine_bench --model models/SmolLM2-135M-Instruct.Q4_1.gguf --threads 2
//       [--prompt 512[,4000...]] [--decode 32] [--context 128] [--batches 1,4,16,32,64]
//       [--steps 8] [--devices cpu:0-14,cpu:15-29]
//
// Prints: prefill tokens/s for each --prompt length (one prompt, one chunk), single-stream
// decode tokens/s (--decode steps after the first prompt), aggregate decode tokens/s for each
// batch size
// (every sequence holding --context tokens of K/V, forked from one prefill with CopyBlocks,
// then --steps decode steps of the whole batch), and single-stream decode as a fraction of two
// rooflines, bandwidth / (matrix weight bytes read per token), both measured here with the
// same threads:
//   DRAM:        streaming a 2 GiB buffer (STREAM's rule: 4x the 480 MiB L3 of the dev box);
//   working set: streaming a buffer the size of the weights read per token, which on a machine
//                whose last-level cache holds the model is the stricter (higher) bound.
// --devices splits the layers over CPU stages (each with --threads threads), to measure the
// hidden-state hand-off between stages against the unsplit run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/kernels/bandwidth.h"
#include "common/status_macros.h"
#include "engine/cpu/kernels/thread_pool.h"
#include "engine/model/model.h"
#include "engine/testing/cpu_backend.h"
#include "engine/testing/sequence_runner.h"

namespace hearth::engine {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Args {
  std::string model;
  int threads = 2, decode = 32, context = 128, steps = 8;
  std::vector<int> prompts = {512};
  std::vector<int> batches = {1, 4, 16, 32, 64};
  std::string devices;  // a CPU split; empty: one stage
};

std::vector<int32_t> RandomTokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = static_cast<int32_t>(rng() % vocab);
  return t;
}

absl::Status Run(const Args& args) {
  ASSIGN_OR_RETURN(auto model, LoadedModel::Open(args.model));
  ASSIGN_OR_RETURN(auto backend, MakeCpuBackend(*model, args.threads, {.devices = args.devices}));
  std::printf("backend: %s\n", backend->Describe().c_str());
  const int32_t vocab = backend->vocab_size();
  const int32_t bs = 16;
  std::vector<float> logits;

  // Prefill of each prompt length; single-stream decode after the first.
  std::vector<std::pair<int, double>> prefill;
  double decode_tps = 0;
  for (size_t i = 0; i < args.prompts.size(); ++i) {
    const int prompt = args.prompts[i];
    SequenceRunner runner(backend.get(), bs);
    RETURN_IF_ERROR(runner.Init(2, prompt + args.decode + 32));
    // Warm-up (page in the weights, size the buffers).
    const int32_t warm = runner.Add(RandomTokens(32, vocab, 1));
    ASSIGN_OR_RETURN(Batch wb, runner.MakeBatch({{warm, 32}}));
    RETURN_IF_ERROR(backend->Forward(wb, &logits));
    const int32_t id = runner.Add(RandomTokens(prompt, vocab, 2));
    ASSIGN_OR_RETURN(Batch batch, runner.MakeBatch({{id, prompt}}));
    auto t0 = Clock::now();
    RETURN_IF_ERROR(backend->Forward(batch, &logits));
    prefill.push_back({prompt, prompt / Seconds(t0, Clock::now())});
    if (i > 0) continue;
    runner.Commit(batch);
    t0 = Clock::now();
    for (int s = 0; s < args.decode; ++s) {
      runner.Append(id, (s * 131) % vocab);
      ASSIGN_OR_RETURN(Batch step, runner.MakeBatch({{id, 1}}));
      RETURN_IF_ERROR(backend->Forward(step, &logits));
      runner.Commit(step);
    }
    decode_tps = args.decode / Seconds(t0, Clock::now());
  }

  // Batched decode: B sequences forked from one prefilled context.
  std::vector<std::pair<int, double>> batched;
  for (int b : args.batches) {
    SequenceRunner runner(backend.get(), bs);
    RETURN_IF_ERROR(runner.Init(b, args.context + args.steps + 1));
    const std::vector<int32_t> ctx = RandomTokens(args.context, vocab, 3);
    for (int i = 0; i < b; ++i) runner.Add(ctx);
    ASSIGN_OR_RETURN(Batch pre, runner.MakeBatch({{0, args.context}}));
    RETURN_IF_ERROR(backend->Forward(pre, &logits));
    runner.Commit(pre);
    const int32_t used = (args.context + bs - 1) / bs;
    std::vector<std::pair<int32_t, int32_t>> copies;
    for (int i = 1; i < b; ++i) {
      for (int32_t k = 0; k < used; ++k) {
        copies.push_back({runner.block_table(0)[k], runner.block_table(i)[k]});
      }
      runner.MarkCached(i, args.context);
    }
    RETURN_IF_ERROR(backend->CopyBlocks(copies));
    const auto t0 = Clock::now();
    for (int s = 0; s < args.steps; ++s) {
      std::vector<std::pair<int32_t, int32_t>> work;
      for (int i = 0; i < b; ++i) {
        runner.Append(i, (i * 13 + s * 7) % vocab);
        work.push_back({i, 1});
      }
      ASSIGN_OR_RETURN(Batch step, runner.MakeBatch(work));
      RETURN_IF_ERROR(backend->Forward(step, &logits));
      runner.Commit(step);
    }
    batched.push_back({b, static_cast<double>(b) * args.steps / Seconds(t0, Clock::now())});
  }

  const double bytes = static_cast<double>(model->weights().MatrixBytesPerToken());
  const double bw_dram = bench::MeasureReadBandwidthGBs(args.threads) * 1e9;
  const double bw_set =
      bench::MeasureReadBandwidthGBs(args.threads, static_cast<int64_t>(bytes)) * 1e9;
  std::printf("model %s, %d threads, kernel path %s\n", args.model.c_str(), args.threads,
              std::string(cpu::CpuKernelPathName(cpu::ActiveCpuKernelPath())).c_str());
  std::printf("%-44s %12s\n", "measurement", "tokens/s");
  for (const auto& [len, tps] : prefill) {
    std::printf("%-44s %12.1f\n", ("prefill (" + std::to_string(len) + " tokens)").c_str(), tps);
  }
  std::printf("%-44s %12.1f\n",
              ("decode, 1 stream (after " + std::to_string(args.prompts[0]) + ")").c_str(),
              decode_tps);
  for (const auto& [b, tps] : batched) {
    std::printf("%-44s %12.1f\n",
                ("decode, batch " + std::to_string(b) + " (ctx " + std::to_string(args.context) +
                 ", aggregate)")
                    .c_str(),
                tps);
  }
  std::printf("matrix bytes per token %.1f MB\n", bytes / 1e6);
  for (const auto& [what, bw] :
       {std::pair{"DRAM (2 GiB)", bw_dram}, std::pair{"working set (weights/token)", bw_set}}) {
    std::printf(
        "read bandwidth, %-28s %6.2f GB/s; roofline %6.1f tok/s; single-stream decode at "
        "%.0f%% of it\n",
        what, bw / 1e9, bw / bytes, 100.0 * decode_tps / (bw / bytes));
  }
  return absl::OkStatus();
}

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::stoi(item));
  return out;
}

}  // namespace
}  // namespace hearth::engine

int main(int argc, char** argv) {
  hearth::engine::Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], v = argv[i + 1];
    if (flag == "--model")
      args.model = v;
    else if (flag == "--threads")
      args.threads = std::stoi(v);
    else if (flag == "--prompt")
      args.prompts = hearth::engine::ParseList(v);
    else if (flag == "--decode")
      args.decode = std::stoi(v);
    else if (flag == "--context")
      args.context = std::stoi(v);
    else if (flag == "--steps")
      args.steps = std::stoi(v);
    else if (flag == "--batches")
      args.batches = hearth::engine::ParseList(v);
    else if (flag == "--devices")
      args.devices = v;
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (args.model.empty()) {
    std::cerr << "usage: hearth_engine_bench --model M.gguf [--threads 2] [--prompt 512,4000] "
                 "[--decode 32] [--context 128] [--batches 1,4,16,32,64] [--steps 8] "
                 "[--devices SPLIT]\n";
    return 2;
  }
  const absl::Status s = hearth::engine::Run(args);
  if (!s.ok()) {
    std::cerr << "hearth_engine_bench: " << s << "\n";
    return 1;
  }
  return 0;
}
