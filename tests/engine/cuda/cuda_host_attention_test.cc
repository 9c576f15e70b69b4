// The CUDA attention kernels' bodies (attention_device.cuh) replayed on the host, over the step
// plan CudaOps uploads (step_plan.h), against the CPU's paged attention (engine/cpu/attention.h)
// on the same K/V, and their invariances, bit for bit:
//   split (flash-decoding) vs tile mode, a sequence alone vs in a batch, and a prompt's rows
//   computed in one prefill vs in a later chunk.
// Bound against the CPU: 3e-5 absolute (outputs are averages of N(0,1) values; both sides
// compute in fp32 with other summation orders and exp2 implementations).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/attention.h"
#include "engine/cpu/kv_storage.h"
#include "engine/cuda/step_plan.h"
#include "engine/quant/fp16.h"
#include "tests/engine/cuda/host_replay.h"

namespace hearth::engine::cuda_test {
namespace {

using cuda::KvLayout;

struct SeqSpec {
  int32_t context_len;
  int32_t num_tokens;
};

struct Case {
  const char* name;
  int32_t heads, kv_heads, head_dim, block_size;
  bool f16;
  std::vector<SeqSpec> seqs;
};

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// K/V of every slot of every block, the same values in the CPU storage and the CUDA pool.
class Fixture {
 public:
  static constexpr int32_t kLayers = 2, kLayer = 1;

  explicit Fixture(const Case& c) : c_(c), rng_(123) {
    int32_t blocks = 0;
    for (const SeqSpec& s : c.seqs) blocks += (s.context_len + c.block_size - 1) / c.block_size;
    num_blocks_ = blocks + 3;
    layout_ = KvLayout{kLayers, c.kv_heads, c.head_dim, c.block_size, c.f16};
    cpu_kv_ = std::make_unique<cpu::KvStorage>(kLayers, c.kv_heads, c.head_dim,
                                               c.f16 ? cpu::KvDtype::kF16 : cpu::KvDtype::kF32);
    EXPECT_TRUE(cpu_kv_->Init(num_blocks_, 0, c.block_size).ok());
    pool_.assign(layout_.BlockElements() * layout_.ElementBytes() * num_blocks_, 0xFF);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const int32_t kvd = c.kv_heads * c.head_dim;
    std::vector<float> k(kvd), v(kvd);
    for (int32_t b = 0; b < num_blocks_; ++b) {
      for (int32_t slot = 0; slot < c.block_size; ++slot) {
        for (int32_t layer = 0; layer < kLayers; ++layer) {
          for (auto& x : k) x = nd(rng_);
          for (auto& x : v) x = nd(rng_);
          cpu_kv_->Write(b, slot, layer, k.data(), v.data());
          for (int32_t j = 0; j < kvd; ++j) {
            Put(b, layer, 0, j / c.head_dim, slot, j % c.head_dim, k[j]);
            Put(b, layer, 1, j / c.head_dim, slot, j % c.head_dim, v[j]);
          }
        }
      }
    }
    // Block tables: a shuffled permutation of the pool.
    ids_.resize(num_blocks_);
    std::iota(ids_.begin(), ids_.end(), 0);
    std::shuffle(ids_.begin(), ids_.end(), rng_);
    int32_t next = 0;
    for (const SeqSpec& s : c.seqs) {
      const int32_t blocks_needed = (s.context_len + c.block_size - 1) / c.block_size;
      tables_.emplace_back(ids_.begin() + next, ids_.begin() + next + blocks_needed);
      next += blocks_needed;
    }
    // One query row per (sequence, absolute position), so every batch shape reads the same q.
    const int64_t qd = int64_t{c.heads} * c.head_dim;
    for (const SeqSpec& s : c.seqs) {
      std::vector<float> q(s.context_len * qd);
      for (auto& x : q) x = nd(rng_);
      queries_.push_back(std::move(q));
    }
  }

  // The batch of sequences `which` (indices into the case's seqs), each with its own new-token
  // count, and its query rows.
  Batch MakeBatch(const std::vector<int>& which, const std::vector<int32_t>& num_tokens,
                  std::vector<float>* q) const {
    Batch batch;
    const int64_t qd = int64_t{c_.heads} * c_.head_dim;
    q->clear();
    for (size_t i = 0; i < which.size(); ++i) {
      const SeqSpec& s = c_.seqs[which[i]];
      BatchSequence seq;
      seq.token_begin = batch.num_tokens();
      seq.num_tokens = num_tokens[i];
      seq.context_len = s.context_len;
      seq.block_table = tables_[which[i]];
      for (int32_t j = 0; j < seq.num_tokens; ++j) {
        const int32_t pos = s.context_len - seq.num_tokens + j;
        batch.tokens.push_back(0);
        batch.positions.push_back(pos);
        const float* row = queries_[which[i]].data() + pos * qd;
        q->insert(q->end(), row, row + qd);
      }
      batch.sequences.push_back(seq);
    }
    return batch;
  }

  std::vector<float> RunCpu(const Batch& batch, const std::vector<float>& q) const {
    std::vector<float> out(q.size(), NAN);
    cpu::PagedAttention(batch,
                        {.q = q.data(),
                         .out = out.data(),
                         .num_heads = c_.heads,
                         .num_kv_heads = c_.kv_heads,
                         .head_dim = c_.head_dim,
                         .layer = kLayer},
                        *cpu_kv_, nullptr);
    return out;
  }

  std::vector<float> RunReplay(const Batch& batch, const std::vector<float>& q, bool split,
                               int* merges = nullptr) const {
    cuda::StepPlanConfig pc;
    pc.num_heads = c_.heads;
    pc.num_kv_heads = c_.kv_heads;
    pc.head_dim = c_.head_dim;
    pc.block_size = c_.block_size;
    pc.num_blocks = num_blocks_;
    pc.split_below_tiles = split ? 1 << 20 : 0;
    auto plan = cuda::BuildStepPlan(batch, pc);
    EXPECT_TRUE(plan.ok()) << plan.status();
    std::vector<float> out(q.size(), NAN);
    std::vector<float> partials(plan->partial_floats, NAN);
    cuda::AttentionParams p;
    p.q = q.data();
    p.out = out.data();
    p.kv = pool_.data();
    p.layout = layout_;
    p.layer = kLayer;
    p.num_heads = c_.heads;
    p.scale = 1.0f / std::sqrt(static_cast<float>(c_.head_dim));
    p.seqs = plan->seqs.data();
    p.block_tables = plan->block_tables.data();
    p.work = plan->work.data();
    p.num_work = static_cast<int32_t>(plan->work.size());
    p.max_rows = plan->max_rows;
    p.partials = partials.data();
    p.merges = plan->merges.data();
    p.num_merges = static_cast<int32_t>(plan->merges.size());
    ReplayAttention(p);
    if (merges != nullptr) *merges = p.num_merges;
    return out;
  }

  const Case& spec() const { return c_; }

 private:
  void Put(int32_t block, int32_t layer, int32_t kv, int32_t head, int32_t slot, int32_t d,
           float v) {
    const int64_t off =
        int64_t{block} * layout_.BlockElements() + layout_.Offset(layer, kv, head, slot) + d;
    if (c_.f16) {
      const uint16_t h = FloatToHalf(v);
      std::memcpy(pool_.data() + 2 * off, &h, 2);
    } else {
      std::memcpy(pool_.data() + 4 * off, &v, 4);
    }
  }

  Case c_;
  std::mt19937 rng_;
  int32_t num_blocks_ = 0;
  KvLayout layout_;
  std::unique_ptr<cpu::KvStorage> cpu_kv_;
  std::vector<uint8_t> pool_;
  std::vector<int32_t> ids_;
  std::vector<std::vector<int32_t>> tables_;
  std::vector<std::vector<float>> queries_;
};

const Case kCases[] = {
    // GQA, fp16: a long decode (3 segments), a prompt, a chunk of a prompt.
    {"gqa_f16_bs16", 8, 2, 64, 16, true, {{530, 1}, {20, 20}, {270, 6}}},
    // MHA, fp32, blocks larger than the 32-key chunk.
    {"mha_f32_bs64", 4, 4, 128, 64, false, {{260, 1}, {33, 3}}},
    // head_dim not a multiple of 32, group of 3, small blocks.
    {"group3_hd80_bs8", 6, 2, 80, 8, true, {{70, 1}, {20, 5}}},
    // A group of 40 query heads: tiles split the group (32 + 8).
    {"mqa_group40", 40, 1, 32, 16, true, {{45, 1}, {6, 3}}},
};

TEST(CudaHostAttention, MatchesCpuPagedAttention) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Fixture fx(c);
    std::vector<int> all(c.seqs.size());
    std::iota(all.begin(), all.end(), 0);
    std::vector<int32_t> tokens;
    for (const SeqSpec& s : c.seqs) tokens.push_back(s.num_tokens);
    std::vector<float> q;
    const Batch batch = fx.MakeBatch(all, tokens, &q);
    const auto want = fx.RunCpu(batch, q);
    int merges = 0;
    const auto got = fx.RunReplay(batch, q, /*split=*/false, &merges);
    EXPECT_EQ(merges, 0);
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_FALSE(std::isnan(got[i])) << "row element " << i << " not written";
      ASSERT_NEAR(got[i], want[i], 3e-5) << i;
    }
  }
}

TEST(CudaHostAttention, SplitAloneAndChunkedGiveTheSameBits) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Fixture fx(c);
    std::vector<int> all(c.seqs.size());
    std::iota(all.begin(), all.end(), 0);
    std::vector<int32_t> tokens;
    for (const SeqSpec& s : c.seqs) tokens.push_back(s.num_tokens);
    std::vector<float> q;
    const Batch batch = fx.MakeBatch(all, tokens, &q);
    const auto tiled = fx.RunReplay(batch, q, /*split=*/false);
    int merges = 0;
    const auto split = fx.RunReplay(batch, q, /*split=*/true, &merges);
    if (c.seqs[0].context_len > 256) {
      EXPECT_GT(merges, 0);  // the long decode was split
    }
    for (size_t i = 0; i < tiled.size(); ++i) ASSERT_EQ(Bits(split[i]), Bits(tiled[i])) << i;

    const int64_t qd = int64_t{c.heads} * c.head_dim;
    for (size_t s = 0; s < c.seqs.size(); ++s) {
      const int64_t begin = batch.sequences[s].token_begin * qd;
      // Alone in its batch.
      std::vector<float> q1;
      const Batch alone = fx.MakeBatch({static_cast<int>(s)}, {c.seqs[s].num_tokens}, &q1);
      const auto out1 = fx.RunReplay(alone, q1, /*split=*/false);
      for (size_t i = 0; i < out1.size(); ++i) {
        ASSERT_EQ(Bits(out1[i]), Bits(tiled[begin + i])) << "seq " << s << " alone, " << i;
      }
      // Its last token alone (as a decode step after a chunked prompt).
      std::vector<float> q2;
      const Batch last = fx.MakeBatch({static_cast<int>(s)}, {1}, &q2);
      const auto out2 = fx.RunReplay(last, q2, /*split=*/true);
      const int64_t last_row = begin + (c.seqs[s].num_tokens - 1) * qd;
      for (int64_t i = 0; i < qd; ++i) {
        ASSERT_EQ(Bits(out2[i]), Bits(tiled[last_row + i])) << "seq " << s << " last token, " << i;
      }
    }
  }
}

}  // namespace
}  // namespace hearth::engine::cuda_test
