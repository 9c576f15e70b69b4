// CUDA matmul on SmolLM2-135M's shapes: y[n, rows] = x[n, cols] * W^T for Q4_1 and Q8_0 weights
// at n = 1, 8 (GEMV) and 32, 128, 512 (dequantize + cuBLAS). Each case: 5 warm-up runs, then
// the median of 50 runs timed with CUDA events. Reports GB/s of quantized weights read (against
// the device-to-device copy bandwidth measured in the same run: bytes read + written per second)
// and TFLOP/s (2 * n * rows * cols per run).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "absl/strings/str_format.h"
#include "engine/cuda/cuda_buffer.h"
#include "engine/cuda/cuda_matmul.h"
#include "engine/cuda/device_query.h"
#include "engine/cuda/matmul.h"
#include "tests/engine/cuda/cuda_test_util.h"

namespace hearth::engine::cuda {
namespace {

#define BENCH_CHECK(expr)                                                         \
  do {                                                                            \
    absl::Status s_ = (expr);                                                     \
    if (!s_.ok()) {                                                               \
      std::fprintf(stderr, "%s: %s\n", #expr, std::string(s_.message()).c_str()); \
      return 1;                                                                   \
    }                                                                             \
  } while (0)

// Median milliseconds of `reps` timed calls of f after `warmup` untimed ones.
template <typename F>
absl::StatusOr<float> MedianMs(F&& f, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) {
    absl::Status s = f();
    if (!s.ok()) return s;
  }
  cudaEvent_t a, b;
  absl::Status s = CudaStatus(cudaEventCreate(&a), "cudaEventCreate");
  if (!s.ok()) return s;
  s = CudaStatus(cudaEventCreate(&b), "cudaEventCreate");
  if (!s.ok()) return s;
  std::vector<float> ms;
  for (int i = 0; i < reps && s.ok(); ++i) {
    cudaEventRecord(a);
    s = f();
    cudaEventRecord(b);
    if (s.ok()) s = CudaStatus(cudaEventSynchronize(b), "cudaEventSynchronize");
    float t = 0;
    if (s.ok()) s = CudaStatus(cudaEventElapsedTime(&t, a, b), "cudaEventElapsedTime");
    ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  if (!s.ok()) return s;
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

int Main() {
  CudaQueryResult q = QueryCudaDevices();
  if (!q.error.empty() || q.devices.empty()) {
    std::printf("cuda_matmul_bench: no CUDA device (%s); nothing to measure\n", q.error.c_str());
    return 0;
  }
  std::printf("device: %s (sm_%d%d, %d SMs)\n", q.devices[0].name.c_str(),
              q.devices[0].compute_major, q.devices[0].compute_minor, q.devices[0].multiprocessors);

  // Device-to-device copy of 1 GiB: read + write bytes per second.
  const size_t copy_bytes = size_t{1} << 30;
  auto src = CudaBuffer::Allocate(copy_bytes);
  auto dst = CudaBuffer::Allocate(copy_bytes);
  BENCH_CHECK(src.status());
  BENCH_CHECK(dst.status());
  BENCH_CHECK(src->Fill(1));
  auto copy_ms = MedianMs(
      [&] {
        return CudaStatus(
            cudaMemcpyAsync(dst->data(), src->data(), copy_bytes, cudaMemcpyDeviceToDevice),
            "cudaMemcpy D2D");
      },
      3, 20);
  BENCH_CHECK(copy_ms.status());
  const double copy_gbs = 2.0 * copy_bytes / (*copy_ms * 1e-3) / 1e9;
  std::printf("D2D copy bandwidth (read + write): %.0f GB/s\n\n", copy_gbs);
  *src = CudaBuffer();
  *dst = CudaBuffer();

  auto mm = CudaMatMul::Create();
  BENCH_CHECK(mm.status());
  const struct {
    int64_t rows, cols;
    const char* what;
  } kShapes[] = {{576, 576, "attn q/o"},
                 {192, 576, "attn k/v"},
                 {1536, 576, "ffn gate/up"},
                 {576, 1536, "ffn down"},
                 {49152, 576, "lm head"}};
  const GgmlType kTypes[] = {GgmlType::kQ4_1, GgmlType::kQ8_0};
  const int kBatches[] = {1, 8, 32, 128, 512};
  std::printf("%-5s %-12s %-11s %5s %6s %10s %9s %7s %9s\n", "type", "shape", "layer", "n", "path",
              "median_us", "weight_GB/s", "of_D2D", "TFLOP/s");
  std::mt19937 rng(42);
  for (GgmlType type : kTypes) {
    for (const auto& sh : kShapes) {
      const auto blocks = cuda_test::RandomBlocks(type, sh.rows, sh.cols, &rng);
      auto w = CudaWeight::Upload(type, sh.rows, sh.cols, blocks.data());
      BENCH_CHECK(w.status());
      const auto x = cuda_test::RandomActivations(512, sh.cols, &rng);
      auto xd = CudaBuffer::Allocate(x.size() * sizeof(float));
      auto yd = CudaBuffer::Allocate(512 * sh.rows * sizeof(float));
      BENCH_CHECK(xd.status());
      BENCH_CHECK(yd.status());
      BENCH_CHECK(xd->Upload(x.data(), x.size() * sizeof(float)));
      for (int n : kBatches) {
        auto ms =
            MedianMs([&] { return (*mm)->Run(*w, xd->as<float>(), yd->as<float>(), n); }, 5, 50);
        BENCH_CHECK(ms.status());
        const double sec = *ms * 1e-3;
        const double gbs = w->bytes() / sec / 1e9;
        const double tflops = 2.0 * n * sh.rows * sh.cols / sec / 1e12;
        std::printf("%-5s %-12s %-11s %5d %6s %10.1f %9.0f %6.0f%% %9.2f\n",
                    std::string(GetTypeTraits(type).name).c_str(),
                    absl::StrFormat("%dx%d", sh.rows, sh.cols).c_str(), sh.what, n,
                    n <= kGemvMaxN ? "gemv" : "cublas", *ms * 1e3, gbs, 100 * gbs / copy_gbs,
                    tflops);
      }
    }
  }
  std::printf(
      "\nweight_GB/s = quantized weight bytes / median time (meaningful for n <= 8); of_D2D is "
      "that against the D2D copy bandwidth above.\n");
  return 0;
}

}  // namespace
}  // namespace hearth::engine::cuda

int main() { return hearth::engine::cuda::Main(); }
