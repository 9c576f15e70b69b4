#include "engine/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/cpu/attention.h"
#include "engine/cpu/kernels/strips.h"

namespace hearth::engine::cpu {

absl::StatusOr<std::unique_ptr<CpuBackend>> CpuBackend::Create(const LoadedModel& model,
                                                               int num_threads,
                                                               const CpuBackendOptions& options) {
  if (num_threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num_threads must be >= 1, got ", num_threads));
  }
  if (model.config().is_moe()) {
    return absl::UnimplementedError("the CPU backend does not run mixture-of-experts models yet");
  }
  // Every matrix must have a CPU kernel (the model library only checked it can be dequantized).
  const ModelWeights& w = model.weights();
  std::vector<const GgufTensor*> matrices = {w.output};
  for (const LayerWeights& l : w.layers) {
    matrices.insert(matrices.end(), {l.wq, l.wk, l.wv, l.wo, l.w_gate, l.w_up, l.w_down});
  }
  for (const GgufTensor* t : matrices) {
    if (!MatMulSupports(t->type)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t->name, "' has type ",
                                                     std::string(t->traits->name),
                                                     ", which the CPU matmul does not support"));
    }
  }
  auto backend = std::unique_ptr<CpuBackend>(new CpuBackend(model, num_threads, options));
  RETURN_IF_ERROR(backend->PrepareMatrices());
  return backend;
}

CpuBackend::CpuBackend(const LoadedModel& model, int num_threads, const CpuBackendOptions& options)
    : config_(model.config()),
      precision_(options.precision),
      weights_(model.weights()),
      pool_(num_threads),
      rope_(model.config(), model.weights().rope_freq_factors),
      kv_(model.config().num_layers, model.config().num_kv_heads, model.config().head_dim,
          options.kv_dtype.value_or(DefaultKvDtype(options.precision))) {
  for (const LayerWeights& l : weights_.layers) {
    for (const GgufTensor* t : {l.wq, l.wk, l.wv, l.wo, l.w_gate, l.w_up, l.w_down}) {
      packed_.Add(Matrix(*t));
    }
  }
  packed_.Add(Matrix(*weights_.output));
}

absl::Status CpuBackend::PrepareMatrices() {
  // f32 precision reads the GGUF rows: nothing to repack.
  if (precision_ == ActPrecision::kQ8) RETURN_IF_ERROR(packed_.Pack(&pool_));
  for (size_t i = 0; i < weights_.layers.size(); ++i) {
    auto m = [&](int j) { return packed_.matrix(static_cast<int>(7 * i) + j); };
    LayerMatrices lm{m(0), m(1), m(2), m(3), m(4), m(5), m(6), {}, {}};
    lm.qkv = Concatenated({&lm.wq, &lm.wk, &lm.wv});
    lm.gate_up = Concatenated({&lm.gate, &lm.up});
    layers_.push_back(lm);
  }
  lm_head_ = packed_.matrix(static_cast<int>(7 * weights_.layers.size()));
  return absl::OkStatus();
}

WeightMatrix CpuBackend::Concatenated(std::initializer_list<const WeightMatrix*> parts) {
  const WeightMatrix& first = **parts.begin();
  WeightMatrix all{first.type, nullptr, 0, first.cols, first.row_bytes};
  all.strips = first.strips;
  const uint8_t* next = first.strips;
  for (const WeightMatrix* w : parts) {
    // Every part but the last must end on a strip boundary for the rows to line up.
    if (w->strips == nullptr || w->strips != next || w->type != first.type ||
        w->cols != first.cols || w->rows % kern::kStripRows != 0) {
      return WeightMatrix{};
    }
    next += kern::StripCount(w->rows) * kern::StripBytes(w->type, w->cols);
    all.rows += w->rows;
  }
  return all;  // data is null: only the strip kernels may read it
}

WeightMatrix CpuBackend::Matrix(const GgufTensor& t) {
  return WeightMatrix{t.type, t.data, t.rows(), t.cols(), t.traits->RowBytes(t.cols())};
}

absl::Status CpuBackend::Forward(const Batch& batch, std::vector<float>* logits) {
  std::vector<int32_t> rows;  // the last new token of each sampled sequence
  for (const BatchSequence& s : batch.sequences) {
    if (s.sample) rows.push_back(s.token_begin + s.num_tokens - 1);
  }
  return Run(batch, rows, logits);
}

absl::Status CpuBackend::ForwardAllTokens(const Batch& batch, std::vector<float>* logits) {
  std::vector<int32_t> rows(batch.num_tokens());
  for (int32_t i = 0; i < batch.num_tokens(); ++i) rows[i] = i;
  return Run(batch, rows, logits);
}

absl::Status CpuBackend::CheckBatch(const Batch& batch) const {
  if (!kv_.initialized()) return absl::FailedPreconditionError("InitKvCache() was not called");
  const int32_t n = batch.num_tokens();
  if (static_cast<int32_t>(batch.positions.size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch has ", n, " tokens but ", batch.positions.size(), " positions"));
  }
  for (int32_t t = 0; t < n; ++t) {
    if (batch.tokens[t] < 0 || batch.tokens[t] >= config_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token ", batch.tokens[t], " at index ", t,
                                                     " is outside the vocabulary of ",
                                                     config_.vocab_size));
    }
  }
  const int32_t bs = kv_.block_size();
  int32_t next = 0;
  for (size_t i = 0; i < batch.sequences.size(); ++i) {
    const BatchSequence& s = batch.sequences[i];
    auto bad = [&](auto&&... parts) {
      return absl::InvalidArgumentError(absl::StrCat("batch sequence ", i, ": ", parts...));
    };
    if (s.token_begin != next || s.num_tokens <= 0 || s.token_begin + s.num_tokens > n) {
      return bad("tokens [", s.token_begin, ", +", s.num_tokens,
                 ") do not follow the previous sequence back to back within ", n, " tokens");
    }
    next += s.num_tokens;
    if (s.context_len < s.num_tokens) {
      return bad("context_len ", s.context_len, " < num_tokens ", s.num_tokens);
    }
    const int64_t blocks_needed = (int64_t{s.context_len} + bs - 1) / bs;
    if (static_cast<int64_t>(s.block_table.size()) < blocks_needed) {
      return bad("block table has ", s.block_table.size(), " blocks, context ", s.context_len,
                 " needs ", blocks_needed);
    }
    for (int64_t b = 0; b < blocks_needed; ++b) {
      if (s.block_table[b] < 0 || s.block_table[b] >= kv_.num_blocks()) {
        return bad("block id ", s.block_table[b], " out of range [0, ", kv_.num_blocks(), ")");
      }
    }
    const int32_t start = s.context_len - s.num_tokens;
    for (int32_t j = 0; j < s.num_tokens; ++j) {
      if (batch.positions[s.token_begin + j] != start + j) {
        return bad("token ", j, " has position ", batch.positions[s.token_begin + j], ", expected ",
                   start + j, " (context_len - num_tokens + j)");
      }
    }
  }
  if (next != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("sequences cover ", next, " of the batch's ", n, " tokens"));
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::Run(const Batch& batch, const std::vector<int32_t>& logit_rows,
                             std::vector<float>* logits) {
  RETURN_IF_ERROR(CheckBatch(batch));
  const ModelConfig& c = config_;
  const int64_t n = batch.num_tokens();
  if (n == 0) {
    logits->clear();
    return absl::OkStatus();
  }
  x_.resize(n * c.dim);
  xb_.resize(n * c.dim);
  q_.resize(n * c.q_dim());
  k_.resize(n * c.kv_dim());
  v_.resize(n * c.kv_dim());
  att_.resize(n * c.q_dim());
  out_.resize(n * c.dim);
  gate_.resize(n * c.ffn_dim);
  up_.resize(n * c.ffn_dim);
  rope_cs_.resize(n * rope_.table_width());
  token_sequence_.resize(n);
  for (size_t i = 0; i < batch.sequences.size(); ++i) {
    const BatchSequence& seq = batch.sequences[i];
    std::fill_n(&token_sequence_[seq.token_begin], seq.num_tokens, static_cast<int32_t>(i));
  }
  rope_.CosSin(batch.positions.data(), n, rope_cs_.data(), &pool_);  // shared by all layers

  // Token embeddings: dequantize one row of token_embd per token.
  const GgufTensor& embd = *weights_.token_embd;
  const int64_t embd_row_bytes = embd.traits->RowBytes(c.dim);
  ParallelRows(n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      embd.traits->dequantize(embd.data + batch.tokens[t] * embd_row_bytes, &x_[t * c.dim], c.dim);
    }
  });

  for (int32_t l = 0; l < c.num_layers; ++l) {
    const LayerWeights& w = weights_.layers[l];
    const LayerMatrices& m = layers_[l];

    // Attention block. The previous layer's feed-forward residual joins the norm's pass.
    if (l == 0) {
      RmsNorm(x_.data(), w.attn_norm.data(), n, c.dim, c.rms_eps, xb_.data(), &pool_);
    } else {
      AddRmsNorm(x_.data(), out_.data(), w.attn_norm.data(), n, c.dim, c.rms_eps, xb_.data(),
                 &pool_);
    }
    bool split_qkv = false;  // Q|K|V sit in fused_ rows, to be split in the RoPE pass
    {
      QuantizedActivations xq(xb_.data(), n, c.dim, precision_);  // once for Q, K and V
      if (m.qkv.rows > 0) {
        const int64_t qd = c.q_dim(), kvd = c.kv_dim(), all = qd + 2 * kvd;
        fused_.resize(n * all);
        MatMul(m.qkv, xq, fused_.data(), &pool_);  // [n, q_dim | kv_dim | kv_dim]
        split_qkv = true;
      } else {
        MatMul(m.wq, xq, q_.data(), &pool_);  // [n, q_dim]
        MatMul(m.wk, xq, k_.data(), &pool_);  // [n, kv_dim]
        MatMul(m.wv, xq, v_.data(), &pool_);  // [n, kv_dim]
      }
    }
    // Split (when fused), bias, RoPE, then the token's K/V into its slot, in one pass over the
    // tokens (distinct slots: safe in parallel).
    ParallelRows(n, [&](int64_t begin, int64_t end) {
      const int64_t qd = c.q_dim(), kvd = c.kv_dim();
      if (split_qkv) {
        for (int64_t t = begin; t < end; ++t) {
          const float* row = &fused_[t * (qd + 2 * kvd)];
          std::memcpy(&q_[t * qd], row, qd * sizeof(float));
          std::memcpy(&k_[t * kvd], row + qd, kvd * sizeof(float));
          std::memcpy(&v_[t * kvd], row + qd + kvd, kvd * sizeof(float));
        }
      }
      if (c.has_qkv_bias) {
        AddBias(&q_[begin * qd], w.bq.data(), end - begin, c.q_dim());
        AddBias(&k_[begin * kvd], w.bk.data(), end - begin, c.kv_dim());
        AddBias(&v_[begin * kvd], w.bv.data(), end - begin, c.kv_dim());
      }
      for (int64_t t = begin; t < end; ++t) {
        const float* cs = &rope_cs_[t * rope_.table_width()];
        rope_.Apply(&q_[t * c.q_dim()], c.num_heads, cs);
        rope_.Apply(&k_[t * c.kv_dim()], c.num_kv_heads, cs);
        StoreKv(batch, token_sequence_[t], t, l);
      }
    });
    PagedAttention(batch,
                   {.q = q_.data(),
                    .out = att_.data(),
                    .num_heads = c.num_heads,
                    .num_kv_heads = c.num_kv_heads,
                    .head_dim = c.head_dim,
                    .layer = l},
                   kv_, &pool_);                                    // att_ [n, q_dim]
    MatMul(m.wo, att_.data(), n, out_.data(), &pool_, precision_);  // [n, dim]

    // Feed-forward block (SwiGLU), its norm in one pass with the attention residual.
    AddRmsNorm(x_.data(), out_.data(), w.ffn_norm.data(), n, c.dim, c.rms_eps, xb_.data(), &pool_);
    {
      QuantizedActivations xq(xb_.data(), n, c.dim, precision_);  // once for gate and up
      if (m.gate_up.rows > 0) {
        const int64_t f = c.ffn_dim;
        fused_.resize(n * 2 * f);
        MatMul(m.gate_up, xq, fused_.data(), &pool_);  // [n, ffn_dim | ffn_dim]
        ParallelRows(n, [&](int64_t begin, int64_t end) {
          for (int64_t t = begin; t < end; ++t) {
            SiluMul(&fused_[t * 2 * f], &fused_[t * 2 * f + f], f, &gate_[t * f]);
          }
        });
      } else {
        MatMul(m.gate, xq, gate_.data(), &pool_);  // [n, ffn_dim]
        MatMul(m.up, xq, up_.data(), &pool_);      // [n, ffn_dim]
        SiluMul(gate_.data(), up_.data(), n * c.ffn_dim, gate_.data(), &pool_);
      }
    }
    MatMul(m.down, gate_.data(), n, out_.data(), &pool_, precision_);  // [n, dim]
    // Its residual joins the next layer's norm; the last layer's is added here.
    if (l + 1 == c.num_layers) AddInPlace(x_.data(), out_.data(), n * c.dim, &pool_);
  }

  // Final norm and LM head for the requested rows only: logits [rows, vocab].
  const int64_t rows = static_cast<int64_t>(logit_rows.size());
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(&xb_[r * c.dim], &x_[int64_t{logit_rows[r]} * c.dim], c.dim * sizeof(float));
  }
  RmsNorm(xb_.data(), weights_.output_norm.data(), rows, c.dim, c.rms_eps, xb_.data(), &pool_);
  // resize, not clear + resize: a vector of the same size keeps its memory without being
  // zeroed again (32 x 49152 floats per step at batch 32); the LM head writes every element.
  logits->resize(rows * c.vocab_size);
  if (rows > 0) MatMul(lm_head_, xb_.data(), rows, logits->data(), &pool_, precision_);
  return absl::OkStatus();
}

void CpuBackend::ParallelRows(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n < 8) {
    fn(0, n);
  } else {
    pool_.ParallelFor(n, fn);
  }
}

void CpuBackend::StoreKv(const Batch& batch, int32_t sequence, int64_t t, int32_t layer) {
  const int32_t bs = kv_.block_size();
  const int32_t kv_dim = config_.kv_dim();
  const int32_t pos = batch.positions[t];
  const std::vector<int32_t>& table = batch.sequences[sequence].block_table;
  kv_.Write(table[pos / bs], pos % bs, layer, &k_[t * kv_dim], &v_[t * kv_dim]);
}

}  // namespace hearth::engine::cpu
