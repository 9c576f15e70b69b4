#include "engine/cpu/cpu_ops.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/host_resources.h"
#include "common/status_macros.h"
#include "engine/cpu/attention.h"
#include "engine/cpu/kernels/strips.h"

namespace hearth::engine::cpu {
namespace {

// A /proc/meminfo field in bytes (0 when unreadable).
int64_t MemInfoBytes(const std::string& field) {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  int64_t kib = 0;
  while (in >> key >> kib >> unit) {
    if (key == field + ":") return kib * 1024;
  }
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CpuOps>> CpuOps::Create(const ModelConfig& config,
                                                       const std::vector<float>& rope_freq_factors,
                                                       int32_t num_layers,
                                                       const CpuOpsOptions& options) {
  if (options.num_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_threads must be >= 1, got ", options.num_threads));
  }
  if (num_layers < 0 || num_layers > config.num_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("a CPU stage of ", num_layers, " layers for a model of ", config.num_layers));
  }
  return std::unique_ptr<CpuOps>(new CpuOps(config, rope_freq_factors, num_layers, options));
}

CpuOps::CpuOps(const ModelConfig& config, const std::vector<float>& rope_freq_factors,
               int32_t num_layers, const CpuOpsOptions& options)
    : config_(config),
      num_layers_(num_layers),
      precision_(options.precision),
      park_between_steps_(options.park_between_steps),
      pool_(options.num_threads),
      rope_(config, rope_freq_factors),
      kv_(num_layers, config.num_kv_heads, config.head_dim,
          options.kv_dtype.value_or(DefaultKvDtype(options.precision))) {}

const CpuOps::Weight& CpuOps::Get(WeightId id, WeightKind kind) const {
  // A wrong id is a bug in the graph, not bad input.
  HEARTH_CHECK(id >= 0 && id < static_cast<WeightId>(weights_.size()) && weights_[id].kind == kind);
  return weights_[id];
}

WeightMatrix CpuOps::Matrix(const GgufTensor& t) {
  return WeightMatrix{t.type, t.data, t.rows(), t.cols(), t.traits->RowBytes(t.cols())};
}

absl::StatusOr<WeightId> CpuOps::AddMatrix(absl::Span<const GgufTensor* const> parts) {
  if (loaded_) return absl::FailedPreconditionError("AddMatrix after FinishLoading");
  if (parts.empty()) return absl::InvalidArgumentError("AddMatrix: no parts");
  MatrixGroup group;
  for (const GgufTensor* t : parts) {
    if (!MatMulSupports(t->type)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t->name, "' has type ",
                                                     std::string(t->traits->name),
                                                     ", which the CPU matmul does not support"));
    }
    if (t->cols() != parts[0]->cols()) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t->name, "' has ", t->cols(),
                                                     " columns, '", parts[0]->name, "' ",
                                                     parts[0]->cols(), ": cannot stack them"));
    }
    group.packed_index.push_back(packed_.Add(Matrix(*t)));
  }
  groups_.push_back(std::move(group));
  weights_.push_back({WeightKind::kMatrix, static_cast<int32_t>(groups_.size() - 1)});
  return static_cast<WeightId>(weights_.size() - 1);
}

absl::StatusOr<WeightId> CpuOps::AddEmbedding(const GgufTensor& table) {
  if (table.cols() != config_.dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "embedding '", table.name, "' has ", table.cols(), " columns, expected ", config_.dim));
  }
  embeddings_.push_back(&table);
  weights_.push_back({WeightKind::kEmbedding, static_cast<int32_t>(embeddings_.size() - 1)});
  return static_cast<WeightId>(weights_.size() - 1);
}

absl::StatusOr<WeightId> CpuOps::AddVector(absl::Span<const float> values) {
  vectors_.emplace_back(values.begin(), values.end());
  weights_.push_back({WeightKind::kVector, static_cast<int32_t>(vectors_.size() - 1)});
  return static_cast<WeightId>(weights_.size() - 1);
}

absl::Status CpuOps::FinishLoading() {
  if (loaded_) return absl::OkStatus();
  // f32 precision reads the GGUF rows: nothing to repack.
  if (precision_ == ActPrecision::kQ8) RETURN_IF_ERROR(packed_.Pack(&pool_));
  for (MatrixGroup& g : groups_) {
    for (int i : g.packed_index) g.parts.push_back(packed_.matrix(i));
    g.fused = g.parts.size() == 1 ? g.parts[0] : Concatenated(g.parts);
  }
  for (MoeGroup& g : moe_) {
    g.matrices.router = groups_[Get(g.router, WeightKind::kMatrix).index].parts[0];
    g.matrices.experts.clear();
    for (const ExpertIds& e : g.experts) g.matrices.experts.push_back(Expert(e));
    if (g.shared_gate != kNoWeight) {
      g.matrices.shared_gate = groups_[Get(g.shared_gate, WeightKind::kMatrix).index].parts[0];
      g.matrices.shared = Expert(g.shared);
    }
  }
  loaded_ = true;
  return absl::OkStatus();
}

WeightMatrix CpuOps::Concatenated(const std::vector<WeightMatrix>& parts) {
  const WeightMatrix& first = parts.front();
  WeightMatrix all{first.type, nullptr, 0, first.cols, first.row_bytes};
  all.strips = first.strips;
  const uint8_t* next = first.strips;
  for (const WeightMatrix& w : parts) {
    // Every part but the last must end on a strip boundary for the rows to line up.
    if (w.strips == nullptr || w.strips != next || w.type != first.type || w.cols != first.cols ||
        w.rows % kern::kStripRows != 0) {
      return WeightMatrix{};
    }
    next += kern::StripCount(w.rows) * kern::StripBytes(w.type, w.cols);
    all.rows += w.rows;
  }
  return all;  // data is null: only the strip kernels may read it
}

absl::StatusOr<WeightId> CpuOps::AddExperts(const MoeTensors& moe) {
  if (loaded_) return absl::FailedPreconditionError("AddExperts after FinishLoading");
  const int64_t num_experts = static_cast<int64_t>(moe.experts.size());
  const int64_t dim = config_.dim;
  if (moe.router == nullptr || num_experts == 0 || moe.top_k < 1 || moe.top_k > num_experts) {
    return absl::InvalidArgumentError(
        absl::StrCat("AddExperts: ", num_experts, " experts with top_k ", moe.top_k));
  }
  auto bad = [](const GgufTensor& t, auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "' ", parts...));
  };
  if (moe.router->cols() != dim || moe.router->rows() != num_experts) {
    return bad(*moe.router, "is [", moe.router->rows(), ", ", moe.router->cols(), "], expected [",
               num_experts, ", ", dim, "]");
  }
  // gate, up [f, dim] and down [dim, f] of one expert; its matrices added as gate|up and down.
  auto add = [&](const ExpertTensors& e) -> absl::StatusOr<ExpertIds> {
    const int64_t f = e.gate->rows();
    if (e.gate->cols() != dim || e.up->cols() != dim || e.up->rows() != f) {
      return bad(*e.up, "does not match '", e.gate->name, "' as [", f, ", ", dim, "]");
    }
    if (e.down->cols() != f || e.down->rows() != dim) {
      return bad(*e.down, "is [", e.down->rows(), ", ", e.down->cols(), "], expected [", dim, ", ",
                 f, "]");
    }
    ExpertIds ids;
    const GgufTensor* const gate_up[] = {e.gate, e.up};
    ASSIGN_OR_RETURN(ids.gate_up, AddMatrix(gate_up));
    ASSIGN_OR_RETURN(ids.down, AddMatrix({&e.down, 1}));
    return ids;
  };
  MoeGroup group;
  group.matrices.rule = {moe.top_k, moe.normalize};
  ASSIGN_OR_RETURN(group.router, AddMatrix({&moe.router, 1}));
  for (const ExpertTensors& e : moe.experts) {
    ASSIGN_OR_RETURN(ExpertIds ids, add(e));
    group.experts.push_back(ids);
  }
  if (moe.shared_gate != nullptr) {
    if (moe.shared_gate->num_elements != dim) {
      return bad(*moe.shared_gate, "has ", moe.shared_gate->num_elements, " elements, expected ",
                 dim);
    }
    ASSIGN_OR_RETURN(group.shared_gate, AddMatrix({&moe.shared_gate, 1}));  // [1, dim]
    ASSIGN_OR_RETURN(group.shared, add(moe.shared));
  }
  moe_.push_back(std::move(group));
  weights_.push_back({WeightKind::kExperts, static_cast<int32_t>(moe_.size() - 1)});
  return static_cast<WeightId>(weights_.size() - 1);
}

ExpertMatrices CpuOps::Expert(const ExpertIds& ids) const {
  const MatrixGroup& gate_up = groups_[Get(ids.gate_up, WeightKind::kMatrix).index];
  const MatrixGroup& down = groups_[Get(ids.down, WeightKind::kMatrix).index];
  return ExpertMatrices{gate_up.parts[0], gate_up.parts[1], down.parts[0], gate_up.fused};
}

void CpuOps::MoeFfn(WeightId moe, Tensor x, Tensor out) {
  const MoeGroup& g = moe_[Get(moe, WeightKind::kExperts).index];
  cpu::MoeFfn(g.matrices, x.data, x.rows, x.cols, out.data, &moe_scratch_, &pool_, precision_);
}

DeviceMemory CpuOps::Memory() const {
  DeviceMemory m;
  // What this process may use: MemAvailable and MemTotal bounded by its container's cgroup
  // memory limit (common/host_resources.h), so a 1 GiB container sizes for 1 GiB.
  const common::MemoryReport host = common::InspectMemory();
  m.total_bytes = MemInfoBytes("MemTotal");
  if (host.cgroup_limit > 0 && (m.total_bytes == 0 || host.cgroup_limit < m.total_bytes)) {
    m.total_bytes = host.cgroup_limit;
  }
  m.free_bytes = host.available;
  m.weight_bytes = packed_.packed_bytes();
  for (const auto& v : vectors_) m.weight_bytes += static_cast<int64_t>(v.size() * sizeof(float));
  return m;
}

absl::Status CpuOps::BeginStep(const Batch& batch) {
  if (!loaded_) return absl::FailedPreconditionError("FinishLoading() was not called");
  if (!kv_.initialized() && num_layers_ > 0) {
    return absl::FailedPreconditionError("InitKvCache() was not called");
  }
  batch_ = &batch;
  const int64_t n = batch.num_tokens();
  token_sequence_.resize(n);
  for (size_t i = 0; i < batch.sequences.size(); ++i) {
    const BatchSequence& seq = batch.sequences[i];
    std::fill_n(&token_sequence_[seq.token_begin], seq.num_tokens, static_cast<int32_t>(i));
  }
  rope_cs_.resize(n * rope_.table_width());
  rope_.CosSin(batch.positions.data(), n, rope_cs_.data(), &pool_);  // shared by all layers
  return absl::OkStatus();
}

Tensor CpuOps::Scratch(int32_t slot, int64_t rows, int64_t cols) {
  if (slot >= static_cast<int32_t>(scratch_.size())) scratch_.resize(slot + 1);
  // resize, not clear + resize: a buffer of the same size keeps its memory without being zeroed
  // again; every operation writes all of its output.
  std::vector<float>& buffer = scratch_[slot];
  buffer.resize(rows * cols);
  return Tensor{buffer.data(), rows, cols};
}

void CpuOps::Embed(WeightId table, Tensor x) {
  const GgufTensor& embd = *embeddings_[Get(table, WeightKind::kEmbedding).index];
  const int64_t dim = x.cols;
  const int64_t row_bytes = embd.traits->RowBytes(dim);
  const Batch& batch = *batch_;
  ParallelRows(x.rows, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      embd.traits->dequantize(embd.data + batch.tokens[t] * row_bytes, x.data + t * dim, dim);
    }
  });
}

void CpuOps::RmsNorm(Tensor x, WeightId w, float eps, Tensor y) {
  const std::vector<float>& weight = vectors_[Get(w, WeightKind::kVector).index];
  cpu::RmsNorm(x.data, weight.data(), x.rows, static_cast<int32_t>(x.cols), eps, y.data, &pool_);
}

void CpuOps::AddRmsNorm(Tensor x, Tensor delta, WeightId w, float eps, Tensor y) {
  const std::vector<float>& weight = vectors_[Get(w, WeightKind::kVector).index];
  cpu::AddRmsNorm(x.data, delta.data, weight.data(), x.rows, static_cast<int32_t>(x.cols), eps,
                  y.data, &pool_);
}

void CpuOps::Add(Tensor x, Tensor delta) { AddInPlace(x.data, delta.data, x.size(), &pool_); }

void CpuOps::Linear(WeightId w, Tensor x, Tensor y) {
  const MatrixGroup& g = groups_[Get(w, WeightKind::kMatrix).index];
  QuantizedActivations xq(x.data, x.rows, x.cols, precision_);  // once for every part
  if (g.fused.rows > 0) {
    MatMul(g.fused, xq, y.data, &pool_);
    return;
  }
  // Parts one by one on the same activations, each output copied into its columns of y.
  int64_t col = 0;
  for (const WeightMatrix& part : g.parts) {
    part_out_.resize(x.rows * part.rows);
    MatMul(part, xq, part_out_.data(), &pool_);
    for (int64_t r = 0; r < x.rows; ++r) {
      std::memcpy(y.data + r * y.cols + col, &part_out_[r * part.rows], part.rows * sizeof(float));
    }
    col += part.rows;
  }
}

void CpuOps::RopeStoreKv(int32_t layer, Tensor qkv, WeightId bias, Tensor q) {
  const ModelConfig& c = config_;
  const int64_t qd = c.q_dim(), kvd = c.kv_dim();
  const float* b =
      bias == kNoWeight ? nullptr : vectors_[Get(bias, WeightKind::kVector).index].data();
  const Batch& batch = *batch_;
  const int32_t bs = kv_.block_size();
  // Distinct slots per token: safe in parallel. Each token's K/V is stored by the thread that
  // rotated it.
  ParallelRows(qkv.rows, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* row = qkv.data + t * qkv.cols;
      float* qt = q.data + t * qd;
      float* kt = row + qd;
      float* vt = row + qd + kvd;
      std::memcpy(qt, row, qd * sizeof(float));
      if (b != nullptr) {
        AddBias(qt, b, 1, static_cast<int32_t>(qd));
        AddBias(kt, b + qd, 1, static_cast<int32_t>(kvd));
        AddBias(vt, b + qd + kvd, 1, static_cast<int32_t>(kvd));
      }
      const float* cs = &rope_cs_[t * rope_.table_width()];
      rope_.Apply(qt, c.num_heads, cs);
      rope_.Apply(kt, c.num_kv_heads, cs);
      const int32_t pos = batch.positions[t];
      const std::vector<int32_t>& table = batch.sequences[token_sequence_[t]].block_table;
      kv_.Write(table[pos / bs], pos % bs, layer, kt, vt);
    }
  });
}

void CpuOps::Attention(int32_t layer, Tensor q, Tensor out) {
  PagedAttention(*batch_,
                 {.q = q.data,
                  .out = out.data,
                  .num_heads = config_.num_heads,
                  .num_kv_heads = config_.num_kv_heads,
                  .head_dim = config_.head_dim,
                  .layer = layer},
                 kv_, &pool_);
}

void CpuOps::SiluMul(Tensor gate_up, Tensor h) {
  const int64_t f = h.cols;
  ParallelRows(h.rows, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* row = gate_up.data + t * 2 * f;
      cpu::SiluMul(row, row + f, f, h.data + t * f);
    }
  });
}

void CpuOps::GatherRows(Tensor x, absl::Span<const int32_t> rows, Tensor y) {
  for (size_t r = 0; r < rows.size(); ++r) {
    std::memcpy(y.data + r * y.cols, x.data + int64_t{rows[r]} * x.cols, x.cols * sizeof(float));
  }
}

void CpuOps::Upload(const float* host, Tensor dst) {
  if (host != dst.data) std::memcpy(dst.data, host, dst.size() * sizeof(float));
}

void CpuOps::Download(Tensor src, float* host) {
  if (host != src.data) std::memcpy(host, src.data, src.size() * sizeof(float));
}

absl::Status CpuOps::EndStep() {
  batch_ = nullptr;
  if (park_between_steps_) pool_.Park();
  return absl::OkStatus();
}

void CpuOps::ParallelRows(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n < 8) {
    if (n > 0) fn(0, n);
  } else {
    pool_.ParallelFor(n, fn);
  }
}

}  // namespace hearth::engine::cpu
