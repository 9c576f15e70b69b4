// CudaOps' mixture-of-experts operations (declared in cuda_ops.h; the layout in moe_plan.h).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/moe_kernels.h"
#include "engine/cuda/ops_kernels.h"

namespace hearth::engine::cuda {
namespace {

// MoeScratch slots.
enum MoeBuffer : int {
  kLogits,      // [n, num_experts]
  kXg,          // [routes, dim]
  kGateUp,      // plan.gu_floats
  kH,           // plan.h_floats
  kYg,          // [routes, dim]
  kSharedGate,  // [n]
  kSharedGu,    // [n, 2 f_shared]
  kSharedH,     // [n, f_shared]
  kSharedY,     // [n, dim]
  kNumMoeBuffers
};

template <typename... Parts>
absl::Status Bad(const GgufTensor& t, const Parts&... parts) {
  return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "' ", parts...));
}

}  // namespace

absl::StatusOr<WeightId> CudaOps::AddExperts(const MoeTensors& moe) {
  if (weights_.uploaded() && weights_.bytes() > 0) {
    return absl::FailedPreconditionError("AddExperts after FinishLoading");
  }
  const int64_t num_experts = static_cast<int64_t>(moe.experts.size());
  const int64_t dim = config_.dim;
  if (moe.router == nullptr || num_experts == 0 || moe.top_k < 1 || moe.top_k > num_experts) {
    return absl::InvalidArgumentError(
        absl::StrCat("AddExperts: ", num_experts, " experts with top_k ", moe.top_k));
  }
  if (moe.router->cols() != dim || moe.router->rows() != num_experts) {
    return Bad(*moe.router, "is [", moe.router->rows(), ", ", moe.router->cols(), "], expected [",
               num_experts, ", ", dim, "]");
  }
  // gate, up [f, dim] and down [dim, f] of one expert, added as gate|up and down.
  auto add = [&](const ExpertTensors& e) -> absl::StatusOr<CudaExpert> {
    if (e.gate == nullptr || e.up == nullptr || e.down == nullptr) {
      return absl::InvalidArgumentError("AddExperts: an expert without gate, up or down");
    }
    const int64_t f = e.gate->rows();
    if (e.gate->cols() != dim || e.up->cols() != dim || e.up->rows() != f) {
      return Bad(*e.up, "does not match '", e.gate->name, "' as [", f, ", ", dim, "]");
    }
    if (e.down->cols() != f || e.down->rows() != dim) {
      return Bad(*e.down, "is [", e.down->rows(), ", ", e.down->cols(), "], expected [", dim, ", ",
                 f, "]");
    }
    CudaExpert out;
    out.f = f;
    const GgufTensor* const gate_up[] = {e.gate, e.up};
    ASSIGN_OR_RETURN(out.gate_up, weights_.AddMatrix(gate_up));
    ASSIGN_OR_RETURN(out.down, weights_.AddMatrix({&e.down, 1}));
    return out;
  };
  CudaMoe block;
  block.top_k = moe.top_k;
  block.normalize = moe.normalize;
  ASSIGN_OR_RETURN(block.router, weights_.AddMatrix({&moe.router, 1}));
  for (const ExpertTensors& e : moe.experts) {
    ASSIGN_OR_RETURN(CudaExpert ce, add(e));
    block.expert_ffn.push_back(ce.f);
    block.experts.push_back(ce);
  }
  if (moe.shared_gate != nullptr) {
    if (moe.shared_gate->num_elements != dim) {
      return Bad(*moe.shared_gate, "has ", moe.shared_gate->num_elements, " elements, expected ",
                 dim);
    }
    ASSIGN_OR_RETURN(block.shared_gate, weights_.AddMatrix({&moe.shared_gate, 1}));  // [1, dim]
    ASSIGN_OR_RETURN(block.shared, add(moe.shared));
  }
  moe_.push_back(std::move(block));
  return kMoeIdBase + static_cast<WeightId>(moe_.size() - 1);
}

float* CudaOps::MoeScratch(int slot, int64_t floats) {
  if (static_cast<size_t>(slot) >= moe_scratch_.size()) moe_scratch_.resize(kNumMoeBuffers);
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(1, floats)) * sizeof(float);
  CudaBuffer& buf = moe_scratch_[slot];
  if (buf.size() < bytes) {
    retired_.push_back(std::move(buf));  // enqueued work may still read it: freed in EndStep
    auto grown = CudaBuffer::Allocate(bytes + bytes / 4);
    if (!grown.ok()) {
      Check(absl::ResourceExhaustedError(
          absl::StrCat(name_, ": no device memory for a ", bytes,
                       "-byte MoE buffer: ", grown.status().message())));
      return nullptr;
    }
    buf = std::move(*grown);
  }
  return buf.as<float>();
}

void CudaOps::MoeFfn(WeightId id, Tensor x, Tensor out) {
  const int64_t index = int64_t{id} - kMoeIdBase;
  if (!Shape(index >= 0 && index < static_cast<int64_t>(moe_.size()), "MoeFfn (weight id)")) {
    return;
  }
  const CudaMoe& moe = moe_[index];
  if (!Shape(x.cols == config_.dim && out.rows == x.rows && out.cols == x.cols &&
                 (x.data != out.data || x.size() == 0),
             "MoeFfn")) {
    return;
  }
  const int64_t n = x.rows, dim = x.cols;
  if (n == 0) return;
  const int32_t num_experts = static_cast<int32_t>(moe.experts.size());
  const int32_t k = moe.top_k;
  const StoredMatrix* router = weights_.matrix(moe.router);
  if (!Shape(router != nullptr, "MoeFfn (router)")) return;

  // Router logits in fp32 (the GEMV: batch-invariant), then one wait for them: the routes decide
  // how many rows each expert's launches get.
  float* logits = MoeScratch(kLogits, n * num_experts);
  if (logits == nullptr || !RunMatrix(*router, x.data, nullptr, logits, n, MatMulPath::kGemv)) {
    return;
  }
  const size_t logit_bytes = static_cast<size_t>(n * num_experts) * sizeof(float);
  uint8_t* host_logits = StageHost(logit_bytes);
  if (host_logits == nullptr) return;
  if (!Check(cudaMemcpyAsync(host_logits, logits, logit_bytes, cudaMemcpyDeviceToHost, stream_),
             "MoE router logits") ||
      !Check(cudaStreamSynchronize(stream_), "MoE router logits")) {
    return;
  }
  MoePlan& plan = moe_plan_;
  BuildMoePlan(reinterpret_cast<const float*>(host_logits), n, k, moe.normalize, moe.expert_ffn,
               &plan);

  // The routes to the device in one copy: [gather | slots | weights].
  const int64_t routes = n * k;
  const size_t part = (static_cast<size_t>(routes) * 4 + 255) / 256 * 256;
  uint8_t* staged = StageHost(3 * part);
  uint8_t* dev = StageDevice(3 * part);
  if (staged == nullptr || dev == nullptr) return;
  std::memcpy(staged, plan.gather.data(), routes * 4);
  std::memcpy(staged + part, plan.slots.data(), routes * 4);
  std::memcpy(staged + 2 * part, plan.weights.data(), routes * 4);
  if (!Check(cudaMemcpyAsync(dev, staged, 3 * part, cudaMemcpyHostToDevice, stream_),
             "MoE routes")) {
    return;
  }
  const int32_t* gather = reinterpret_cast<const int32_t*>(dev);
  const int32_t* slots = reinterpret_cast<const int32_t*>(dev + part);
  const float* weights = reinterpret_cast<const float*>(dev + 2 * part);

  float* xg = MoeScratch(kXg, routes * dim);
  float* gu = MoeScratch(kGateUp, plan.gu_floats);
  float* h = MoeScratch(kH, plan.h_floats);
  float* yg = MoeScratch(kYg, routes * dim);
  if (xg == nullptr || gu == nullptr || h == nullptr || yg == nullptr) return;
  if (!Check(LaunchGather({x.data, gather, xg, static_cast<int32_t>(routes), dim}, stream_),
             "MoE gather")) {
    return;
  }

  // Each used expert over its block of rows, by the path Linear takes for that many rows. The
  // fp16 copies of xg and h are made once for all experts (each row rounds the same either way).
  std::vector<MatMulPath> paths;
  bool half = false;
  for (const MoeRun& run : plan.runs) {
    paths.push_back(PathFor(options_.gemm, run.rows, options_.cublas_min_tokens));
    half |= PathUsesHalfInput(paths.back());
  }
  const uint16_t* x16 = nullptr;
  if (half) {
    auto converted = matmul_->ToHalf(xg, routes * dim);
    if (!Check(converted.status())) return;
    x16 = *converted;
  }
  for (size_t i = 0; i < plan.runs.size(); ++i) {
    const MoeRun& run = plan.runs[i];
    const CudaExpert& e = moe.experts[run.expert];
    const StoredMatrix* gate_up = weights_.matrix(e.gate_up);
    const bool h16 = PathUsesHalfInput(paths[i]);
    if (!RunMatrix(*gate_up, xg + run.route0 * dim, h16 ? x16 + run.route0 * dim : nullptr,
                   gu + run.gu_offset, run.rows, paths[i]) ||
        !Check(LaunchSiluMul(
                   {gu + run.gu_offset, h + run.h_offset, run.rows, static_cast<int32_t>(e.f)},
                   stream_),
               "MoE SiluMul")) {
      return;
    }
  }
  const uint16_t* hh = nullptr;
  if (half) {
    auto converted = matmul_->ToHalf(h, plan.h_floats);  // replaces x16 (its readers are queued)
    if (!Check(converted.status())) return;
    hh = *converted;
  }
  for (size_t i = 0; i < plan.runs.size(); ++i) {
    const MoeRun& run = plan.runs[i];
    const StoredMatrix* down = weights_.matrix(moe.experts[run.expert].down);
    const bool h16 = PathUsesHalfInput(paths[i]);
    if (!RunMatrix(*down, h + run.h_offset, h16 ? hh + run.h_offset : nullptr,
                   yg + run.route0 * dim, run.rows, paths[i])) {
      return;
    }
  }

  // The shared expert over every token, its gate logit in fp32 like the router's.
  MoeCombineParams c;
  if (moe.shared_gate != kNoWeight) {
    const int64_t fs = moe.shared.f;
    const MatMulPath path = PathFor(options_.gemm, n, options_.cublas_min_tokens);
    float* sg = MoeScratch(kSharedGate, n);
    float* sgu = MoeScratch(kSharedGu, n * 2 * fs);
    float* sh = MoeScratch(kSharedH, n * fs);
    float* sy = MoeScratch(kSharedY, n * dim);
    if (sg == nullptr || sgu == nullptr || sh == nullptr || sy == nullptr) return;
    if (!RunMatrix(*weights_.matrix(moe.shared_gate), x.data, nullptr, sg, n, MatMulPath::kGemv) ||
        !RunMatrix(*weights_.matrix(moe.shared.gate_up), x.data, nullptr, sgu, n, path) ||
        !Check(LaunchSiluMul({sgu, sh, static_cast<int32_t>(n), static_cast<int32_t>(fs)}, stream_),
               "MoE shared SiluMul") ||
        !RunMatrix(*weights_.matrix(moe.shared.down), sh, nullptr, sy, n, path)) {
      return;
    }
    c.shared = sy;
    c.shared_gate = sg;
  }
  c.y = yg;
  c.slots = slots;
  c.weights = weights;
  c.out = out.data;
  c.n = static_cast<int32_t>(n);
  c.k = k;
  c.dim = dim;
  Check(LaunchMoeCombine(c, stream_), "MoE combine");
}

}  // namespace hearth::engine::cuda
