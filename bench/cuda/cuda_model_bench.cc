// The CUDA backend on a real-sized model (a synthetic Llama-3-8B-shaped Q4_K GGUF from
// `hearth synth-model`), with the machine's ceilings measured in the same run:
//
//   HBM      device-to-device copy of 1 GiB (bytes read + written per second, median of 20)
//   peak     cuBLAS fp16 GEMM 8192^3 (fp32 accumulate, median of 10): TFLOP/s
//   switch   per decode-layer matmul shape of the model's type, tensor-core kernel vs
//            dequantize + cuBLAS at n = 1 .. 2048 tokens: the smallest n from which cuBLAS is
//            faster on every larger n measured (CudaOpsOptions::cublas_min_tokens in fast mode)
//   decode   per CudaGemmMode and batch B in {1, 8, 32, 128, 256}: B sequences of 128-token
//            prompts, then 16 timed decode steps (logits of every sequence downloaded, as the
//            engine does): tokens/s, and the matrix weight bytes read per step / step time as a
//            fraction of the copy bandwidth above; batch 32 over batch 1
//   prefill  one 2048-token prompt in one step: tokens/s, and its FLOPs (matrices + causal
//            attention) per second as a fraction of the cuBLAS peak above
//
// Each figure is one "TABLE|bench|name|value|reference|status" line (scripts/gpu-check.sh
// collects them); status is MET / BELOW for the targets (>= 70% of the bandwidth at
// batch 1, batch 32 >= 6x batch 1), else "-". Without a device it says so and exits 0.
//
//   cuda_model_bench --model llama8b-q4k.gguf [--modes invariant,fast] [--batches 1,8,32,128,256]
//                    [--steps 16] [--prompt 128] [--prefill 2048] [--no_switch]
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "engine/cuda/cuda_buffer.h"
#include "engine/cuda/cuda_matmul.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/device_query.h"
#include "engine/graph/model_graph.h"
#include "engine/model/model.h"
#include "engine/runtime/split_backend.h"
#include "engine/testing/sequence_runner.h"
#include "tests/engine/cuda/cuda_test_util.h"

namespace hearth::engine::cuda {
namespace {

void Row(const std::string& name, const std::string& value, const std::string& ref,
         const std::string& status = "-") {
  std::printf("TABLE|bench|%s|%s|%s|%s\n", name.c_str(), value.c_str(), ref.c_str(),
              status.c_str());
  std::fflush(stdout);
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median seconds of `reps` timed calls of f (events on `stream`) after `warmup` calls.
template <typename F>
absl::StatusOr<double> MedianSeconds(F&& f, cudaStream_t stream, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) {
    absl::Status s = f();
    if (!s.ok()) return s;
  }
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<double> times;
  absl::Status s;
  for (int i = 0; i < reps && s.ok(); ++i) {
    cudaEventRecord(a, stream);
    s = f();
    cudaEventRecord(b, stream);
    if (s.ok()) s = CudaStatus(cudaEventSynchronize(b), "cudaEventSynchronize");
    float ms = 0;
    if (s.ok()) s = CudaStatus(cudaEventElapsedTime(&ms, a, b), "cudaEventElapsedTime");
    times.push_back(ms * 1e-3);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  if (!s.ok()) return s;
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

absl::StatusOr<double> CopyBandwidth() {
  const size_t bytes = size_t{1} << 30;
  auto src = CudaBuffer::Allocate(bytes);
  auto dst = CudaBuffer::Allocate(bytes);
  if (!src.ok()) return src.status();
  if (!dst.ok()) return dst.status();
  absl::Status s = src->Fill(1);
  if (!s.ok()) return s;
  auto sec = MedianSeconds(
      [&] {
        return CudaStatus(
            cudaMemcpyAsync(dst->data(), src->data(), bytes, cudaMemcpyDeviceToDevice, nullptr),
            "cudaMemcpyAsync");
      },
      nullptr, 3, 20);
  if (!sec.ok()) return sec.status();
  return 2.0 * bytes / *sec;
}

absl::StatusOr<double> CublasPeak() {
  const int n = 8192;
  const size_t elems = size_t{n} * n;
  auto a = CudaBuffer::Allocate(elems * 2), b = CudaBuffer::Allocate(elems * 2),
       c = CudaBuffer::Allocate(elems * 2);
  if (!a.ok() || !b.ok() || !c.ok()) return absl::ResourceExhaustedError("GEMM buffers");
  // Random fp16 operands (zeros run faster than real data).
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> u(0x3000, 0x3BFF);  // halves in [0.125, 1)
  std::vector<uint16_t> host(elems);
  for (auto& h : host) h = static_cast<uint16_t>(u(rng) | ((rng() & 1) << 15));
  absl::Status s = a->Upload(host.data(), elems * 2);
  if (s.ok()) s = b->Upload(host.data(), elems * 2);
  if (!s.ok()) return s;
  cublasHandle_t handle;
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) return absl::InternalError("cublasCreate");
  const float alpha = 1, beta = 0;
  auto sec = MedianSeconds(
      [&] {
        const cublasStatus_t st =
            cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, a->data(), CUDA_R_16F,
                         n, b->data(), CUDA_R_16F, n, &beta, c->data(), CUDA_R_16F, n,
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        return st == CUBLAS_STATUS_SUCCESS ? absl::OkStatus() : absl::InternalError("cublasGemmEx");
      },
      nullptr, 3, 10);
  cublasDestroy(handle);
  if (!sec.ok()) return sec.status();
  return 2.0 * n * n * static_cast<double>(n) / *sec;
}

// The tensor-core kernel against dequantize + cuBLAS on one decoder layer's matmul shapes.
void SwitchPoint(const ModelConfig& c, GgmlType type) {
  const struct {
    int64_t rows, cols;
  } shapes[] = {{c.q_dim() + 2 * int64_t{c.kv_dim()}, c.dim},
                {c.dim, c.q_dim()},
                {2 * int64_t{c.ffn_dim}, c.dim},
                {c.dim, c.ffn_dim}};
  const int ns[] = {1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048};
  auto mm = CudaMatMul::Create();
  if (!mm.ok()) return;
  std::mt19937 rng(3);
  std::vector<double> tc(std::size(ns)), cb(std::size(ns));
  for (const auto& sh : shapes) {
    const auto blocks = cuda_test::RandomBlocks(type, sh.rows, sh.cols, &rng);
    auto w = CudaWeight::Upload(type, sh.rows, sh.cols, blocks.data());
    const auto x = cuda_test::RandomActivations(2048, sh.cols, &rng);
    auto xd = CudaBuffer::Allocate(x.size() * 4);
    auto yd = CudaBuffer::Allocate(size_t{2048} * sh.rows * 4);
    if (!w.ok() || !xd.ok() || !yd.ok() || !xd->Upload(x.data(), x.size() * 4).ok()) return;
    for (size_t i = 0; i < std::size(ns); ++i) {
      for (MatMulPath path : {MatMulPath::kTensorCore, MatMulPath::kCublas}) {
        auto sec = MedianSeconds(
            [&] { return (*mm)->Run(*w, xd->as<float>(), yd->as<float>(), ns[i], path); }, nullptr,
            2, 10);
        if (!sec.ok()) {
          Row("switch point", sec.status().ToString(), "", "FAIL");
          return;
        }
        (path == MatMulPath::kTensorCore ? tc : cb)[i] += *sec;
      }
    }
  }
  int switch_n = -1;
  for (size_t i = 0; i < std::size(ns); ++i) {
    Row(absl::StrFormat("layer matmuls %s n=%d: tensor core / cuBLAS",
                        std::string(GetTypeTraits(type).name), ns[i]),
        absl::StrFormat("%.1f / %.1f us", tc[i] * 1e6, cb[i] * 1e6),
        absl::StrFormat("%.2fx", tc[i] / cb[i]));
    bool from_here = true;
    for (size_t j = i; j < std::size(ns); ++j) from_here &= cb[j] < tc[j];
    if (from_here && switch_n < 0) switch_n = ns[i];
  }
  Row("fast mode switch point (cublas_min_tokens)", switch_n < 0 ? "never" : absl::StrCat(switch_n),
      "measured");
}

struct Options {
  std::string model;
  std::vector<CudaGemmMode> modes = {CudaGemmMode::kInvariant, CudaGemmMode::kFast};
  std::vector<int> batches = {1, 8, 32, 128, 256};
  int steps = 16;
  int prompt = 128;
  int prefill = 2048;
  bool switch_point = true;
};

absl::StatusOr<std::unique_ptr<SplitBackend>> MakeBackend(const LoadedModel& model,
                                                          CudaGemmMode mode) {
  CudaOpsOptions options;
  options.gemm = mode;
  const ModelConfig& c = model.config();
  auto ops = CudaOps::Create(c, model.weights().rope_freq_factors, c.num_layers, options);
  if (!ops.ok()) return ops.status();
  Stage stage;
  stage.ops = *std::move(ops);
  auto graph = CreateModelGraph(model, LayerRange{0, c.num_layers}, stage.ops.get());
  if (!graph.ok()) return graph.status();
  stage.graph = *std::move(graph);
  stage.host_memory = false;
  std::vector<Stage> stages;
  stages.push_back(std::move(stage));
  return SplitBackend::Create(c, std::move(stages));
}

std::vector<int32_t> RandomTokens(int n, int vocab, std::mt19937* rng) {
  std::uniform_int_distribution<int> u(300, vocab - 300);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = u(*rng);
  return t;
}

// Decode tokens/s at batch b (prompts prefilled first, untimed).
absl::StatusOr<double> Decode(SplitBackend* backend, const Options& o, int b, int vocab) {
  SequenceRunner runner(backend, 16);
  absl::Status s = runner.Init(b, o.prompt + o.steps + 16);
  if (!s.ok()) return s;
  std::mt19937 rng(b);
  for (int i = 0; i < b; ++i) runner.Add(RandomTokens(o.prompt, vocab, &rng));
  std::vector<float> logits;
  // Prefill in steps of up to 4096 tokens.
  for (int first = 0; first < b;) {
    std::vector<std::pair<int32_t, int32_t>> work;
    int tokens = 0;
    for (; first < b && tokens + o.prompt <= 4096; ++first, tokens += o.prompt) {
      work.push_back({first, o.prompt});
    }
    auto batch = runner.MakeBatch(work);
    if (!batch.ok()) return batch.status();
    if (s = backend->Forward(*batch, &logits); !s.ok()) return s;
    runner.Commit(*batch);
  }
  std::vector<std::pair<int32_t, int32_t>> work;
  for (int i = 0; i < b; ++i) {
    work.push_back({i, 1});
    runner.Append(i, 1000 + i);
  }
  double start = 0;
  for (int step = 0; step <= o.steps; ++step) {  // step 0 is the warm-up
    if (step == 1) start = Now();
    auto batch = runner.MakeBatch(work);
    if (!batch.ok()) return batch.status();
    if (s = backend->Forward(*batch, &logits); !s.ok()) return s;
    runner.Commit(*batch);
    for (int i = 0; i < b; ++i) runner.Append(i, 1000 + (i + step) % 1000);
  }
  return static_cast<double>(b) * o.steps / (Now() - start);
}

// Prefill tokens/s of one o.prefill-token prompt in one step (after a warm-up prompt).
absl::StatusOr<double> Prefill(SplitBackend* backend, const Options& o, int vocab) {
  SequenceRunner runner(backend, 16);
  absl::Status s = runner.Init(2, o.prefill + 16);
  if (!s.ok()) return s;
  std::mt19937 rng(5);
  std::vector<float> logits;
  double seconds = 0;
  for (int i = 0; i < 2; ++i) {
    const int id = runner.Add(RandomTokens(o.prefill, vocab, &rng));
    auto batch = runner.MakeBatch({{id, o.prefill}});
    if (!batch.ok()) return batch.status();
    const double t0 = Now();
    if (s = backend->Forward(*batch, &logits); !s.ok()) return s;
    seconds = Now() - t0;
    runner.Commit(*batch);
  }
  return o.prefill / seconds;
}

int Run(const Options& o) {
  CudaQueryResult q = QueryCudaDevices();
  if (!q.error.empty() || q.devices.empty()) {
    std::printf("cuda_model_bench: no CUDA device (%s); nothing to measure\n", q.error.c_str());
    return 0;
  }
  Row("device",
      absl::StrFormat("%s sm_%d%d, %d SMs, %.0f GiB", q.devices[0].name, q.devices[0].compute_major,
                      q.devices[0].compute_minor, q.devices[0].multiprocessors,
                      q.devices[0].total_memory_bytes / 1073741824.0),
      "");
  auto bw = CopyBandwidth();
  auto peak = CublasPeak();
  if (!bw.ok() || !peak.ok()) {
    Row("ceilings", (bw.ok() ? peak.status() : bw.status()).ToString(), "", "FAIL");
    return 1;
  }
  Row("HBM copy bandwidth (read + write)", absl::StrFormat("%.0f GB/s", *bw / 1e9), "measured");
  Row("cuBLAS fp16 GEMM 8192^3", absl::StrFormat("%.0f TFLOP/s", *peak / 1e12), "measured");

  auto model = LoadedModel::Open(o.model);
  if (!model.ok()) {
    Row("model", model.status().ToString(), o.model, "FAIL");
    return 1;
  }
  const ModelConfig& c = (*model)->config();
  const GgmlType type = (*model)->weights().layers[0].w_gate->type;
  if (o.switch_point) SwitchPoint(c, type);
  const double step_bytes = static_cast<double>((*model)->weights().MatrixBytesPerToken());
  Row("model",
      absl::StrFormat("%d layers, dim %d, ffn %d, vocab %d, %.2f GB of matrices", c.num_layers,
                      c.dim, c.ffn_dim, c.vocab_size, step_bytes / 1e9),
      o.model);
  // Matrix FLOPs per token (2 per weight), and causal attention's for the prefill.
  const ModelWeights& weights = (*model)->weights();
  double params = static_cast<double>(weights.output->num_elements);
  for (const LayerWeights& l : weights.layers) {
    for (const GgufTensor* t : {l.wq, l.wk, l.wv, l.wo, l.w_gate, l.w_up, l.w_down}) {
      params += static_cast<double>(t->num_elements);
    }
  }
  const double matrix_flops = 2.0 * params;
  int rc = 0;
  for (CudaGemmMode mode : o.modes) {
    const std::string m = CudaGemmModeName(mode);
    const double t0 = Now();
    auto backend = MakeBackend(**model, mode);
    if (!backend.ok()) {
      Row(m + " load", backend.status().ToString(), "", "FAIL");
      rc = 1;
      continue;
    }
    Row(m + " load (upload weights)", absl::StrFormat("%.1f s", Now() - t0), "");
    double tps1 = 0;
    for (int b : o.batches) {
      auto tps = Decode(backend->get(), o, b, c.vocab_size);
      if (!tps.ok()) {
        Row(absl::StrFormat("%s decode batch %d", m, b), tps.status().ToString(), "", "FAIL");
        rc = 1;
        continue;
      }
      const double frac = step_bytes * (*tps / b) / *bw;
      Row(absl::StrFormat("%s decode batch %d", m, b),
          absl::StrFormat("%.0f tok/s, weights %.0f GB/s = %.0f%% of HBM", *tps,
                          step_bytes * (*tps / b) / 1e9, 100 * frac),
          b == 1 ? ">= 70% at batch 1" : "", b == 1 ? (frac >= 0.7 ? "MET" : "BELOW") : "-");
      if (b == 1) tps1 = *tps;
      if (b == 32 && tps1 > 0) {
        Row(m + " decode batch 32 / batch 1", absl::StrFormat("%.1fx", *tps / tps1), ">= 6x",
            *tps / tps1 >= 6 ? "MET" : "BELOW");
      }
    }
    auto pre = Prefill(backend->get(), o, c.vocab_size);
    if (!pre.ok()) {
      Row(m + " prefill", pre.status().ToString(), "", "FAIL");
      rc = 1;
      continue;
    }
    const double attn_flops = 2.0 * 2.0 * c.num_layers * c.q_dim() * (o.prefill + 1) / 2.0;
    const double flops = (matrix_flops + attn_flops) * *pre;
    Row(absl::StrFormat("%s prefill %d tokens", m, o.prefill),
        absl::StrFormat("%.0f tok/s, %.0f TFLOP/s = %.0f%% of cuBLAS peak", *pre, flops / 1e12,
                        100 * flops / *peak),
        "cuBLAS fp16 peak");
  }
  Row("CUDA graphs for decode steps", "not implemented", "");
  return rc;
}

int Main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    auto ints = [&](std::vector<int>* out) {
      out->clear();
      for (absl::string_view p : absl::StrSplit(value(), ',')) {
        int v = 0;
        if (absl::SimpleAtoi(p, &v)) out->push_back(v);
      }
    };
    if (a == "--model") {
      o.model = value();
    } else if (a == "--modes") {
      o.modes.clear();
      for (absl::string_view p : absl::StrSplit(value(), ',')) {
        if (auto m = ParseCudaGemmMode(std::string(p))) o.modes.push_back(*m);
      }
    } else if (a == "--batches") {
      ints(&o.batches);
    } else if (a == "--steps") {
      o.steps = std::atoi(value().c_str());
    } else if (a == "--prompt") {
      o.prompt = std::atoi(value().c_str());
    } else if (a == "--prefill") {
      o.prefill = std::atoi(value().c_str());
    } else if (a == "--no_switch") {
      o.switch_point = false;
    } else {
      std::fprintf(stderr,
                   "usage: cuda_model_bench --model PATH [--modes invariant,fast] "
                   "[--batches 1,8,32,128,256] [--steps 16] [--prompt 128] "
                   "[--prefill 2048] [--no_switch]\n");
      return 2;
    }
  }
  if (o.model.empty()) {
    std::fprintf(stderr, "cuda_model_bench: --model is required\n");
    return 2;
  }
  return Run(o);
}

}  // namespace
}  // namespace hearth::engine::cuda

int main(int argc, char** argv) { return hearth::engine::cuda::Main(argc, argv); }
