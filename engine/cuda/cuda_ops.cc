#include "engine/cuda/cuda_ops.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/cuda/attention_kernels.h"
#include "engine/cuda/ops_kernels.h"

namespace hearth::engine::cuda {
namespace {

constexpr size_t kStageAlign = 256;
// Split attention tiles over their segments when a step has fewer tiles than this per SM.
constexpr int kSplitTilesPerSm = 2;

size_t AlignUp(size_t v) { return (v + kStageAlign - 1) / kStageAlign * kStageAlign; }

}  // namespace

std::vector<float> RopeInverseFrequencies(const ModelConfig& c, const std::vector<float>& factors) {
  std::vector<float> inv(c.rope_dims / 2);
  for (int32_t i = 0; i < c.rope_dims / 2; ++i) {
    double f = std::pow(static_cast<double>(c.rope_base), -2.0 * i / c.rope_dims);
    if (!factors.empty()) f /= factors[i];
    inv[i] = static_cast<float>(f / c.rope_linear_scale);
  }
  return inv;
}

absl::StatusOr<std::unique_ptr<CudaOps>> CudaOps::Create(
    const ModelConfig& config, const std::vector<float>& rope_freq_factors, int32_t num_layers,
    const CudaOpsOptions& options) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    cudaGetLastError();
    return absl::FailedPreconditionError(absl::StrCat(
        "no CUDA device: ", err != cudaSuccess ? cudaGetErrorString(err) : "none visible"));
  }
  if (options.device < 0 || options.device >= count) {
    return absl::InvalidArgumentError(
        absl::StrCat("device cuda:", options.device, " does not exist (", count,
                     " CUDA device(s): cuda:0 .. cuda:", count - 1, ")"));
  }
  if (config.head_dim > kAttentionMaxHeadDim) {
    return absl::InvalidArgumentError(absl::StrCat("head_dim ", config.head_dim,
                                                   ": the CUDA attention kernel takes up to ",
                                                   kAttentionMaxHeadDim));
  }
  if (num_layers <= 0 || num_layers > config.num_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("a CUDA stage of ", num_layers, " layers (model: ", config.num_layers, ")"));
  }
  auto ops = std::unique_ptr<CudaOps>(new CudaOps(config, num_layers, options));
  RETURN_IF_ERROR(ops->Init(rope_freq_factors));
  return ops;
}

absl::StatusOr<std::unique_ptr<DeviceOps>> CreateCudaOps(
    const ModelConfig& config, const std::vector<float>& rope_freq_factors, int32_t num_layers,
    const CudaOpsOptions& options) {
  ASSIGN_OR_RETURN(auto ops, CudaOps::Create(config, rope_freq_factors, num_layers, options));
  return std::unique_ptr<DeviceOps>(std::move(ops));
}

CudaOps::CudaOps(const ModelConfig& config, int32_t num_layers, const CudaOpsOptions& options)
    : config_(config),
      num_layers_(num_layers),
      options_(options),
      name_(absl::StrCat("cuda:", options.device)),
      weights_(name_),
      kv_(name_, KvLayout{num_layers, config.num_kv_heads, config.head_dim, 0,
                          options.kv_dtype == KvDtype::kF16}) {}

absl::Status CudaOps::Init(const std::vector<float>& rope_freq_factors) {
  RETURN_IF_ERROR(CudaStatus(cudaSetDevice(options_.device), name_));
  RETURN_IF_ERROR(
      CudaStatus(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate"));
  ASSIGN_OR_RETURN(matmul_, CudaMatMul::Create(stream_));
  const std::vector<float> inv = RopeInverseFrequencies(config_, rope_freq_factors);
  ASSIGN_OR_RETURN(inv_freq_, CudaBuffer::Allocate(std::max<size_t>(4, inv.size() * 4)));
  return inv_freq_.Upload(inv.data(), inv.size() * 4);
}

CudaOps::~CudaOps() {
  MakeCurrent();
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  matmul_.reset();
  if (staging_host_ != nullptr) cudaFreeHost(staging_host_);
  for (void* p : extra_pinned_) cudaFreeHost(p);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

void CudaOps::MakeCurrent() const { cudaSetDevice(options_.device); }

// ---- Load time ------------------------------------------------------------------------------

absl::StatusOr<WeightId> CudaOps::AddMatrix(absl::Span<const GgufTensor* const> parts) {
  return weights_.AddMatrix(parts);
}

absl::StatusOr<WeightId> CudaOps::AddEmbedding(const GgufTensor& table) {
  return weights_.AddEmbedding(table);
}

absl::StatusOr<WeightId> CudaOps::AddVector(absl::Span<const float> values) {
  return weights_.AddVector(values);
}

absl::Status CudaOps::FinishLoading() {
  MakeCurrent();
  size_t free_bytes = 0, total = 0;
  RETURN_IF_ERROR(CudaStatus(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo"));
  return weights_.Upload(static_cast<int64_t>(free_bytes), options_.progress);
}

DeviceMemory CudaOps::Memory() const {
  MakeCurrent();
  size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) cudaGetLastError();
  return {static_cast<int64_t>(total), static_cast<int64_t>(free_bytes), weights_.bytes()};
}

// ---- K/V ------------------------------------------------------------------------------------

int64_t CudaOps::KvBytesPerBlock(int32_t block_size) const { return kv_.BytesPerBlock(block_size); }

absl::Status CudaOps::InitKvCache(int32_t num_blocks, int32_t num_host_blocks, int32_t block_size) {
  MakeCurrent();
  RETURN_IF_ERROR(Synchronize());  // the old pool may still be read by enqueued work
  size_t free_bytes = 0, total = 0;
  RETURN_IF_ERROR(CudaStatus(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo"));
  return kv_.Init(
      num_blocks, num_host_blocks, block_size,
      static_cast<int64_t>(free_bytes) + kv_.BytesPerBlock(block_size) * kv_.num_blocks());
}

absl::Status CudaOps::CopyBlocks(const std::vector<std::pair<int32_t, int32_t>>& pairs) {
  MakeCurrent();
  return kv_.Copy(pairs, stream_);
}

absl::Status CudaOps::SwapOut(const std::vector<std::pair<int32_t, int32_t>>& pairs) {
  MakeCurrent();
  return kv_.SwapOut(pairs, stream_);
}

absl::Status CudaOps::SwapIn(const std::vector<std::pair<int32_t, int32_t>>& pairs) {
  MakeCurrent();
  return kv_.SwapIn(pairs, stream_);
}

absl::Status CudaOps::Synchronize() {
  MakeCurrent();
  return CudaStatus(cudaStreamSynchronize(stream_), absl::StrCat(name_, ": stream"));
}

absl::Status CudaOps::ReadKvBlock(int32_t block, std::vector<uint8_t>* bytes) {
  RETURN_IF_ERROR(Synchronize());
  return kv_.ReadBlock(block, bytes);
}

// ---- Step bookkeeping -----------------------------------------------------------------------

bool CudaOps::Check(absl::Status status) {
  if (!step_status_.ok()) return false;
  step_status_ = std::move(status);
  return step_status_.ok();
}

bool CudaOps::Check(cudaError_t err, const char* what) {
  if (!step_status_.ok()) return false;
  if (err == cudaSuccess) return true;
  step_status_ = CudaStatus(err, absl::StrCat(name_, ": ", what));
  return false;
}

bool CudaOps::Shape(bool ok, const char* op) {
  if (!step_status_.ok()) return false;
  if (!ok) {
    step_status_ = absl::InvalidArgumentError(
        absl::StrCat(name_, ": ", op, ": tensor shapes do not match (a graph bug)"));
  }
  return ok;
}

uint8_t* CudaOps::StageHost(size_t bytes) {
  bytes = AlignUp(std::max<size_t>(bytes, 1));
  staging_high_water_ = std::max(staging_high_water_, staging_used_ + bytes);
  if (staging_used_ + bytes <= staging_bytes_) {
    uint8_t* p = staging_host_ + staging_used_;
    staging_used_ += bytes;
    return p;
  }
  staging_used_ += bytes;  // counted, so the next step's staging holds it all
  void* extra = nullptr;
  if (!Check(cudaHostAlloc(&extra, bytes, cudaHostAllocDefault), "cudaHostAlloc staging")) {
    return nullptr;
  }
  extra_pinned_.push_back(extra);
  return static_cast<uint8_t*>(extra);
}

uint8_t* CudaOps::StageDevice(size_t bytes) {
  bytes = AlignUp(std::max<size_t>(bytes, 1));
  device_high_water_ = std::max(device_high_water_, step_device_used_ + bytes);
  if (step_device_used_ + bytes <= step_device_.size()) {
    uint8_t* p = step_device_.as<uint8_t>() + step_device_used_;
    step_device_used_ += bytes;
    return p;
  }
  step_device_used_ += bytes;
  auto extra = CudaBuffer::Allocate(bytes);
  if (!Check(extra.status())) return nullptr;
  retired_.push_back(std::move(*extra));
  return retired_.back().as<uint8_t>();
}

Tensor CudaOps::Scratch(int32_t slot, int64_t rows, int64_t cols) {
  Tensor t{nullptr, rows, cols};
  if (slot < 0) {
    Check(absl::InvalidArgumentError(absl::StrCat(name_, ": Scratch slot ", slot)));
    return t;
  }
  if (static_cast<size_t>(slot) >= scratch_.size()) scratch_.resize(slot + 1);
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(1, rows * cols)) * sizeof(float);
  CudaBuffer& buf = scratch_[slot];
  if (buf.size() < bytes) {
    MakeCurrent();
    retired_.push_back(std::move(buf));
    auto grown = CudaBuffer::Allocate(bytes + bytes / 4);
    if (!grown.ok()) {
      Check(absl::ResourceExhaustedError(
          absl::StrCat(name_, ": no device memory for a working buffer of ", bytes, " bytes (",
                       rows, " x ", cols, " floats): ", grown.status().message())));
      return t;
    }
    buf = std::move(*grown);
  }
  t.data = buf.as<float>();
  return t;
}

absl::Status CudaOps::BeginStep(const Batch& batch) {
  MakeCurrent();
  if (in_step_) cudaStreamSynchronize(stream_);  // an unfinished step's staging may be in use
  in_step_ = true;
  step_status_ = absl::OkStatus();
  batch_ = &batch;
  step_tokens_ = batch.num_tokens();
  downloads_.clear();
  staging_used_ = step_device_used_ = 0;
  if (!kv_.initialized()) {
    step_status_ = absl::FailedPreconditionError("InitKvCache() was not called");
    return step_status_;
  }
  // Grow the staging areas to what the last step needed (nothing is in flight here).
  if (staging_high_water_ > staging_bytes_) {
    if (staging_host_ != nullptr) cudaFreeHost(staging_host_);
    staging_host_ = nullptr;
    staging_bytes_ = 0;
    void* p = nullptr;
    const size_t want = staging_high_water_ + staging_high_water_ / 4;
    if (!Check(cudaHostAlloc(&p, want, cudaHostAllocDefault), "cudaHostAlloc staging")) {
      return step_status_;
    }
    staging_host_ = static_cast<uint8_t*>(p);
    staging_bytes_ = want;
  }
  if (device_high_water_ > step_device_.size()) {
    step_device_ = CudaBuffer();
    auto grown = CudaBuffer::Allocate(device_high_water_ + device_high_water_ / 4);
    if (!Check(grown.status())) return step_status_;
    step_device_ = std::move(*grown);
  }

  const KvLayout& lay = kv_.layout();
  StepPlanConfig pc;
  pc.num_heads = config_.num_heads;
  pc.num_kv_heads = config_.num_kv_heads;
  pc.head_dim = config_.head_dim;
  pc.block_size = lay.block_size;
  pc.num_blocks = kv_.num_blocks();
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, options_.device);
  pc.split_below_tiles = kSplitTilesPerSm * std::max(sms, 1);
  auto plan = BuildStepPlan(batch, pc);
  if (!Check(plan.status())) return step_status_;

  // One upload for the whole plan: [tokens | positions | slots | seqs | tables | work | merges].
  struct Part {
    const void* src;
    size_t bytes;
    size_t offset;
  };
  Part parts[] = {
      {plan->tokens.data(), plan->tokens.size() * 4, 0},
      {plan->positions.data(), plan->positions.size() * 4, 0},
      {plan->slots.data(), plan->slots.size() * 4, 0},
      {plan->seqs.data(), plan->seqs.size() * sizeof(AttentionSeq), 0},
      {plan->block_tables.data(), plan->block_tables.size() * 4, 0},
      {plan->work.data(), plan->work.size() * sizeof(AttentionWork), 0},
      {plan->merges.data(), plan->merges.size() * sizeof(AttentionWork), 0},
  };
  size_t total = 0;
  for (Part& part : parts) {
    part.offset = total;
    total += AlignUp(part.bytes);
  }
  uint8_t* host = StageHost(total);
  uint8_t* dev = StageDevice(total);
  if (host == nullptr || dev == nullptr) return step_status_;
  for (const Part& part : parts) {
    if (part.bytes > 0) std::memcpy(host + part.offset, part.src, part.bytes);
  }
  if (!Check(cudaMemcpyAsync(dev, host, total, cudaMemcpyHostToDevice, stream_), "step upload")) {
    return step_status_;
  }
  tokens_ = reinterpret_cast<const int32_t*>(dev + parts[0].offset);
  const int32_t* positions = reinterpret_cast<const int32_t*>(dev + parts[1].offset);
  slots_ = reinterpret_cast<const int32_t*>(dev + parts[2].offset);
  seqs_ = reinterpret_cast<const AttentionSeq*>(dev + parts[3].offset);
  tables_ = reinterpret_cast<const int32_t*>(dev + parts[4].offset);
  work_ = reinterpret_cast<const AttentionWork*>(dev + parts[5].offset);
  merges_ = reinterpret_cast<const AttentionWork*>(dev + parts[6].offset);
  num_work_ = static_cast<int32_t>(plan->work.size());
  num_merges_ = static_cast<int32_t>(plan->merges.size());
  max_rows_ = plan->max_rows;

  const size_t partial_bytes = static_cast<size_t>(plan->partial_floats) * 4;
  if (partials_.size() < partial_bytes) {
    retired_.push_back(std::move(partials_));
    auto grown = CudaBuffer::Allocate(partial_bytes + partial_bytes / 4);
    if (!Check(grown.status())) return step_status_;
    partials_ = std::move(*grown);
  }
  // RoPE angles of every token, once for all layers.
  const size_t cs_bytes = static_cast<size_t>(std::max(1, step_tokens_)) * config_.rope_dims * 4;
  if (cos_sin_.size() < cs_bytes) {
    retired_.push_back(std::move(cos_sin_));
    auto grown = CudaBuffer::Allocate(cs_bytes + cs_bytes / 4);
    if (!Check(grown.status())) return step_status_;
    cos_sin_ = std::move(*grown);
  }
  RopeTableParams rt;
  rt.positions = positions;
  rt.inv_freq = inv_freq_.as<float>();
  rt.cos_sin = cos_sin_.as<float>();
  rt.n = step_tokens_;
  rt.rope_dims = config_.rope_dims;
  Check(LaunchRopeTable(rt, stream_), "RoPE table");
  return step_status_;
}

absl::Status CudaOps::EndStep() {
  MakeCurrent();
  absl::Status sync = CudaStatus(cudaStreamSynchronize(stream_), absl::StrCat(name_, ": step"));
  if (step_status_.ok() && sync.ok()) {
    for (const PendingDownload& d : downloads_) std::memcpy(d.host, d.staged, d.bytes);
  }
  downloads_.clear();
  for (void* p : extra_pinned_) cudaFreeHost(p);
  extra_pinned_.clear();
  retired_.clear();
  in_step_ = false;
  batch_ = nullptr;
  if (!step_status_.ok()) return step_status_;
  return sync;
}

// ---- Operations -----------------------------------------------------------------------------

void CudaOps::Embed(WeightId table, Tensor x) {
  const StoredEmbedding* e = weights_.embedding(table);
  if (!Shape(e != nullptr && x.rows == step_tokens_ && x.cols == e->dim, "Embed")) return;
  EmbedParams p;
  p.type = e->type;
  p.table = e->data;
  p.row_bytes = e->row_bytes;
  p.tokens = tokens_;
  p.x = x.data;
  p.n = static_cast<int32_t>(x.rows);
  p.dim = static_cast<int32_t>(x.cols);
  Check(LaunchEmbed(p, stream_), "Embed");
}

void CudaOps::RmsNorm(Tensor x, WeightId w, float eps, Tensor y) {
  const StoredVector* v = weights_.vector(w);
  if (!Shape(v != nullptr && x.rows == y.rows && x.cols == y.cols && v->size == x.cols,
             "RmsNorm")) {
    return;
  }
  Check(LaunchRmsNorm({x.data, nullptr, v->data, y.data, static_cast<int32_t>(x.rows),
                       static_cast<int32_t>(x.cols), eps},
                      stream_),
        "RmsNorm");
}

void CudaOps::AddRmsNorm(Tensor x, Tensor delta, WeightId w, float eps, Tensor y) {
  const StoredVector* v = weights_.vector(w);
  if (!Shape(v != nullptr && x.rows == y.rows && x.cols == y.cols && v->size == x.cols &&
                 delta.rows == x.rows && delta.cols == x.cols,
             "AddRmsNorm")) {
    return;
  }
  Check(LaunchRmsNorm({x.data, delta.data, v->data, y.data, static_cast<int32_t>(x.rows),
                       static_cast<int32_t>(x.cols), eps},
                      stream_),
        "AddRmsNorm");
}

void CudaOps::Add(Tensor x, Tensor delta) {
  if (!Shape(x.rows == delta.rows && x.cols == delta.cols, "Add")) return;
  Check(LaunchAdd(x.data, delta.data, x.size(), stream_), "Add");
}

void CudaOps::Linear(WeightId w, Tensor x, Tensor y) {
  const StoredMatrix* m = weights_.matrix(w);
  if (!Shape(m != nullptr && x.cols == m->cols && y.rows == x.rows && y.cols == m->rows,
             "Linear")) {
    return;
  }
  const int64_t n = x.rows;
  if (n == 0) return;
  RunMatrix(*m, x.data, nullptr, y.data, n, PathFor(options_.gemm, n, options_.cublas_min_tokens));
}

bool CudaOps::RunMatrix(const StoredMatrix& m, const float* x, const uint16_t* x16, float* y,
                        int64_t n, MatMulPath path) {
  if (!step_status_.ok()) return false;
  if (n == 0) return true;
  if (x16 == nullptr && PathUsesHalfInput(path)) {  // once for all segments
    auto half = matmul_->ToHalf(x, n * m.cols);
    if (!Check(half.status())) return false;
    x16 = *half;
  }
  for (const MatrixSegment& seg : m.segments) {
    const WeightView view{static_cast<GgmlType>(seg.type), seg.data, seg.rows, seg.cols};
    if (!Check(matmul_->RunView(view, x, x16, y + seg.row_offset, m.rows, n, path))) return false;
  }
  return true;
}

void CudaOps::RopeStoreKv(int32_t layer, Tensor qkv, WeightId bias, Tensor q) {
  const int64_t qd = config_.q_dim(), kvd = config_.kv_dim();
  const StoredVector* b = bias == kNoWeight ? nullptr : weights_.vector(bias);
  if (!Shape(layer >= 0 && layer < num_layers_ && qkv.rows == step_tokens_ &&
                 qkv.cols == qd + 2 * kvd && q.rows == qkv.rows && q.cols == qd &&
                 (bias == kNoWeight || (b != nullptr && b->size == qd + 2 * kvd)),
             "RopeStoreKv")) {
    return;
  }
  RopeStoreParams p;
  p.qkv = qkv.data;
  p.bias = b == nullptr ? nullptr : b->data;
  p.cos_sin = cos_sin_.as<float>();
  p.slots = slots_;
  p.q = q.data;
  p.kv = kv_.device();
  p.layout = kv_.layout();
  p.layer = layer;
  p.n = static_cast<int32_t>(qkv.rows);
  p.num_heads = config_.num_heads;
  p.rope_dims = config_.rope_dims;
  p.neox = config_.rope_style == RopeStyle::kNeox;
  Check(LaunchRopeStore(p, stream_), "RopeStoreKv");
}

void CudaOps::Attention(int32_t layer, Tensor q, Tensor out) {
  const int64_t qd = config_.q_dim();
  if (!Shape(layer >= 0 && layer < num_layers_ && q.rows == step_tokens_ && q.cols == qd &&
                 out.rows == q.rows && out.cols == qd,
             "Attention")) {
    return;
  }
  AttentionParams p;
  p.q = q.data;
  p.out = out.data;
  p.kv = kv_.device();
  p.layout = kv_.layout();
  p.layer = layer;
  p.num_heads = config_.num_heads;
  p.scale = 1.0f / std::sqrt(static_cast<float>(config_.head_dim));
  p.seqs = seqs_;
  p.block_tables = tables_;
  p.work = work_;
  p.num_work = num_work_;
  p.max_rows = max_rows_;
  p.partials = partials_.as<float>();
  p.merges = merges_;
  p.num_merges = num_merges_;
  Check(LaunchAttention(p, stream_), "Attention");
}

void CudaOps::SiluMul(Tensor gate_up, Tensor h) {
  if (!Shape(gate_up.rows == h.rows && gate_up.cols == 2 * h.cols, "SiluMul")) return;
  Check(LaunchSiluMul(
            {gate_up.data, h.data, static_cast<int32_t>(h.rows), static_cast<int32_t>(h.cols)},
            stream_),
        "SiluMul");
}

void CudaOps::GatherRows(Tensor x, absl::Span<const int32_t> rows, Tensor y) {
  if (!Shape(y.rows == static_cast<int64_t>(rows.size()) && y.cols == x.cols, "GatherRows")) {
    return;
  }
  for (int32_t r : rows) {
    if (!Shape(r >= 0 && r < x.rows, "GatherRows (row index)")) return;
  }
  if (rows.empty()) return;
  const size_t bytes = rows.size() * sizeof(int32_t);
  uint8_t* host = StageHost(bytes);
  uint8_t* dev = StageDevice(bytes);
  if (host == nullptr || dev == nullptr) return;
  std::memcpy(host, rows.data(), bytes);
  if (!Check(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, stream_), "GatherRows")) {
    return;
  }
  Check(LaunchGather({x.data, reinterpret_cast<const int32_t*>(dev), y.data,
                      static_cast<int32_t>(rows.size()), x.cols},
                     stream_),
        "GatherRows");
}

void CudaOps::Upload(const float* host, Tensor dst) {
  if (!step_status_.ok() || dst.size() == 0) return;
  const size_t bytes = static_cast<size_t>(dst.size()) * sizeof(float);
  uint8_t* staged = StageHost(bytes);
  if (staged == nullptr) return;
  std::memcpy(staged, host, bytes);
  Check(cudaMemcpyAsync(dst.data, staged, bytes, cudaMemcpyHostToDevice, stream_), "Upload");
}

void CudaOps::Download(Tensor src, float* host) {
  if (!step_status_.ok() || src.size() == 0) return;
  const size_t bytes = static_cast<size_t>(src.size()) * sizeof(float);
  uint8_t* staged = StageHost(bytes);
  if (staged == nullptr) return;
  if (!Check(cudaMemcpyAsync(staged, src.data, bytes, cudaMemcpyDeviceToHost, stream_),
             "Download")) {
    return;
  }
  downloads_.push_back({staged, host, bytes});
}

}  // namespace hearth::engine::cuda
