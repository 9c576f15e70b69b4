// MatMul on the default model's shapes (SmolLM2-135M: dim 576, kv 192, ffn 1536, vocab 49152)
// for Q4_1, Q8_0, Q4_K and Q6_K at n = 1, 4, 16, 32, 64 on a 2-thread pool, next to the
// measured read bandwidth.
//
//   hearth_kernels_bench [--threads=2] [--path=auto|avx512|avxvnni|avx2|scalar]
//
// Weights are replicated until 256 MiB so every call streams from DRAM, as in a forward pass.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "bench/kernels/bandwidth.h"
#include "engine/cpu/kernels/matmul.h"
#include "engine/quant/ggml_type.h"
#include "tests/engine/cpu/kernels/test_weights.h"

namespace hearth::engine::cpu {
namespace {

constexpr size_t kStreamBytes = size_t{256} << 20;

struct Shape {
  int64_t rows, cols;
  const char* what;
};

double SecondsPerCall(CpuKernelPath path, const std::vector<WeightMatrix>& copies, const float* x,
                      int64_t n, float* y, ThreadPool* pool,
                      ActPrecision precision = ActPrecision::kQ8) {
  // Warm up, then the best of 5 rounds of >= 40 ms each (the dev box is shared: the best
  // round is the one least disturbed by other processes).
  MatMulOnPath(path, copies[0], x, n, y, pool, precision);
  double best = 1e30;
  int64_t calls = 0;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    int64_t round_calls = 0;
    double sec = 0.0;
    do {
      MatMulOnPath(path, copies[calls % copies.size()], x, n, y, pool, precision);
      ++calls;
      ++round_calls;
      sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } while (sec < 0.04 || round_calls < 2);
    best = std::min(best, sec / round_calls);
  }
  return best;
}

// Streaming copies of one random weight matrix (so n = 1 reads W from DRAM, as at decode),
// repacked the way the engine repacks its weights at load (PackedWeights).
struct WeightCopies {
  testing::TestWeights tw;
  std::vector<uint8_t> store;
  PackedWeights packed;
  std::vector<WeightMatrix> copies;
};
void MakeCopies(GgmlType type, const Shape& s, std::mt19937& rng, WeightCopies* wc) {
  wc->tw = testing::RandomWeights(type, s.rows, s.cols, rng);
  const size_t bytes = wc->tw.bytes.size();
  const size_t ncopies = std::max<size_t>(1, kStreamBytes / bytes);
  wc->store.assign(ncopies * bytes, 0);
  for (size_t c = 0; c < ncopies; ++c) {
    std::memcpy(wc->store.data() + c * bytes, wc->tw.bytes.data(), bytes);
    WeightMatrix w = wc->tw.w;
    w.data = wc->store.data() + c * bytes;
    wc->packed.Add(w);
  }
  if (!wc->packed.Pack(nullptr).ok()) std::abort();
  for (size_t c = 0; c < ncopies; ++c) wc->copies.push_back(wc->packed.matrix(static_cast<int>(c)));
}

// Activation precision f32 vs q8 (see engine/cpu/kernels/matmul.h) at n = 1 and n = 32.
void PrecisionTable(CpuKernelPath path, ThreadPool* pool, const Shape* shapes, int nshapes,
                    std::mt19937& rng, const float* x, float* y) {
  std::printf("\nactivation precision: us/call q8 vs f32 (ratio f32/q8)\n");
  std::printf("%-5s %-14s %5s %10s %10s %7s\n", "type", "rows x cols", "n", "q8 us", "f32 us",
              "ratio");
  for (GgmlType type : {GgmlType::kQ4_1, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ6_K}) {
    const TypeTraits& traits = GetTypeTraits(type);
    for (int si = 0; si < nshapes; ++si) {
      const Shape& s = shapes[si];
      if (s.cols % traits.block_size != 0) continue;
      WeightCopies wc;
      MakeCopies(type, s, rng, &wc);
      for (int64_t n : {1, 32}) {
        const double tq = SecondsPerCall(path, wc.copies, x, n, y, pool, ActPrecision::kQ8);
        const double tf = SecondsPerCall(path, wc.copies, x, n, y, pool, ActPrecision::kF32);
        std::printf("%-5s %6lld x %-5lld %5lld %10.1f %10.1f %6.2fx\n",
                    std::string(traits.name).c_str(), static_cast<long long>(s.rows),
                    static_cast<long long>(s.cols), static_cast<long long>(n), tq * 1e6, tf * 1e6,
                    tf / tq);
      }
    }
  }
}

int Main(int argc, char** argv) {
  int threads = 2;
  bool precision_only = false;
  std::string only;
  CpuKernelPath path = ActiveCpuKernelPath();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--threads=", 0) == 0) threads = std::stoi(a.substr(10));
    if (a == "--precision_only") precision_only = true;
    if (a.rfind("--only=", 0) == 0) only = a.substr(7);  // one type, e.g. Q4_1 (no precision table)
    if (a.rfind("--path=", 0) == 0) {
      for (CpuKernelPath p : {CpuKernelPath::kScalar, CpuKernelPath::kAvx2, CpuKernelPath::kAvxVnni,
                              CpuKernelPath::kAvx512}) {
        if (a.substr(7) == CpuKernelPathName(p) && CpuKernelPathSupported(p)) path = p;
      }
    }
  }
  const double bw1 = hearth::bench::MeasureReadBandwidthGBs(1);
  const double bwn = hearth::bench::MeasureReadBandwidthGBs(threads);
  std::printf("DRAM read bandwidth: %.2f GB/s (1 thread), %.2f GB/s (%d threads)\n", bw1, bwn,
              threads);
  std::printf("kernel path: %s, threads: %d\n\n", std::string(CpuKernelPathName(path)).c_str(),
              threads);
  std::printf("%-5s %-14s %5s %10s %9s %8s %11s %7s\n", "type", "rows x cols", "n", "us/call",
              "W GB/s", "%bw", "n32 speedup", "GMAC/s");

  ThreadPool pool(threads);
  std::mt19937 rng(42);
  const Shape shapes[] = {{576, 576, "q/o"},
                          {192, 576, "k/v"},
                          {1536, 576, "gate/up"},
                          {576, 1536, "down"},
                          {49152, 576, "output"}};
  const GgmlType types[] = {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ8_0,
                            GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};
  const int64_t ns[] = {1, 4, 16, 32, 64};
  const std::vector<float> x = testing::RandomActivations(64, 1536, rng);
  std::vector<float> y(64 * 49152);
  for (GgmlType type : precision_only ? std::span<const GgmlType>() : std::span(types)) {
    const TypeTraits& traits = GetTypeTraits(type);
    if (!only.empty() && only != traits.name) continue;
    for (const Shape& s : shapes) {
      if (s.cols % traits.block_size != 0) continue;  // K-quants need cols % 256 == 0
      WeightCopies wc;
      MakeCopies(type, s, rng, &wc);
      const size_t bytes = wc.tw.bytes.size();
      double t1 = 0.0;
      for (int64_t n : ns) {
        const double t = SecondsPerCall(path, wc.copies, x.data(), n, y.data(), &pool);
        if (n == 1) t1 = t;
        const double gbs = bytes / t / 1e9;
        const double gmacs = static_cast<double>(n) * s.rows * s.cols / t / 1e9;
        char extra[64] = "";
        if (n == 1) std::snprintf(extra, sizeof(extra), "%7.0f%%", 100.0 * gbs / bwn);
        if (n == 32) {
          std::snprintf(extra, sizeof(extra), "%8s %10.1fx %7.0f", "", 32.0 * t1 / t, gmacs);
        }
        std::printf("%-5s %6lld x %-5lld %5lld %10.1f %9.2f %s\n", std::string(traits.name).c_str(),
                    static_cast<long long>(s.rows), static_cast<long long>(s.cols),
                    static_cast<long long>(n), t * 1e6, gbs, extra);
      }
    }
  }
  if (!only.empty()) return 0;
  PrecisionTable(path, &pool, shapes, static_cast<int>(std::size(shapes)), rng, x.data(), y.data());
  return 0;
}

}  // namespace
}  // namespace hearth::engine::cpu

int main(int argc, char** argv) { return hearth::engine::cpu::Main(argc, argv); }
