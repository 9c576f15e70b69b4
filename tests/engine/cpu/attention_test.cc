// Tests of engine/cpu/attention.h, for float32 and fp16 K/V: both tile kernels against a float64
// softmax reference (over the K/V as stored, fp16-rounded for f16) and against each other, row
// independence (bitwise) whatever the tile grouping and thread count, stale slots never leaking
// into results, the K/V storage layout, and the AVX2 SiLU against std::exp.
#include "engine/cpu/attention.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "engine/cpu/kernels/matmul.h"
#include "engine/cpu/kernels/thread_pool.h"
#include "engine/cpu/kv_storage.h"
#include "engine/cpu/ops.h"
#include "engine/quant/fp16.h"
#include "gtest/gtest.h"

namespace hearth::engine::cpu {
namespace {

using Kernel = void (*)(const AttentionTile&, AttentionScratch*);

bool HaveAvx2() { return CpuKernelPathSupported(CpuKernelPath::kAvx2); }
bool HaveAvx512() { return CpuKernelPathSupported(CpuKernelPath::kAvx512); }

const KvDtype kDtypes[] = {KvDtype::kF32, KvDtype::kF16};

// A sequence's paged K/V for one K/V head, in the layout of kv_storage.h, with shuffled block
// ids and one unused block between used ones.
struct PagedKv {
  int32_t head_dim, block_size;
  KvDtype dtype;
  std::vector<int32_t> table;
  std::vector<float> storage;       // kF32: [num_ids][2][block_size * head_dim]
  std::vector<uint16_t> storage16;  // kF16: the same layout, fp16 bits
  std::vector<float> k, v;  // [context, head_dim] plain copies of the stored values (reference)

  PagedKv(int32_t hd, int32_t bs, int32_t context, std::mt19937* rng, KvDtype dt = KvDtype::kF32)
      : head_dim(hd), block_size(bs), dtype(dt) {
    const int32_t blocks = (context + bs - 1) / bs;
    const int32_t ids = 2 * blocks + 1;
    // Stale slots are NaN: a kernel that reads them into a result fails every comparison.
    if (dtype == KvDtype::kF32) {
      storage.assign(int64_t{ids} * stride(), std::numeric_limits<float>::quiet_NaN());
    } else {
      storage16.assign(int64_t{ids} * stride(), uint16_t{0x7E00});  // fp16 quiet NaN
    }
    for (int32_t b = 0; b < blocks; ++b) table.push_back(ids - 1 - 2 * b);  // descending
    std::normal_distribution<float> dist(0.0f, 1.0f);
    k.resize(int64_t{context} * hd);
    v.resize(int64_t{context} * hd);
    for (int32_t p = 0; p < context; ++p) {
      const int64_t kt = stride() * table[p / bs];
      const int64_t vt = kt + int64_t{bs} * hd;
      for (int32_t d = 0; d < hd; ++d) {
        k[int64_t{p} * hd + d] = Store(kt + int64_t{d} * bs + p % bs, 2.0f * dist(*rng));
        v[int64_t{p} * hd + d] = Store(vt + int64_t{p % bs} * hd + d, dist(*rng));
      }
    }
  }
  // Stores x at element i; returns the value as stored (rounded to fp16 for kF16).
  float Store(int64_t i, float x) {
    if (dtype == KvDtype::kF32) return storage[i] = x;
    storage16[i] = FloatToHalf(x);
    return HalfToFloat(storage16[i]);
  }
  const void* data() const {
    return dtype == KvDtype::kF32 ? static_cast<const void*>(storage.data()) : storage16.data();
  }
  int64_t stride() const { return int64_t{2} * block_size * head_dim; }
};

struct TileCase {
  int32_t head_dim, block_size, num_heads, num_tokens, first_pos;
};

AttentionTile MakeTile(const TileCase& c, const PagedKv& kv, const float* q, float* out) {
  AttentionTile t;
  t.q = q;
  t.out = out;
  t.row_stride = int64_t{c.num_heads} * c.head_dim;
  t.num_tokens = c.num_tokens;
  t.num_heads = c.num_heads;
  t.first_pos = c.first_pos;
  t.head_dim = c.head_dim;
  t.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  t.block_table = kv.table.data();
  const int64_t v_offset = int64_t{c.block_size} * c.head_dim * KvDtypeBytes(kv.dtype);
  t.k0 = kv.data();
  t.v0 = static_cast<const uint8_t*>(kv.data()) + v_offset;
  t.kv_dtype = kv.dtype;
  t.block_stride = kv.stride();
  t.block_size = c.block_size;
  return t;
}

// A case's paged K/V (context first_pos + num_tokens; see PagedKv) and its random queries.
struct Inputs {
  PagedKv kv;
  std::vector<float> q;
};
Inputs MakeInputs(const TileCase& c, KvDtype dtype, std::mt19937* rng) {
  PagedKv kv(c.head_dim, c.block_size, c.first_pos + c.num_tokens, rng, dtype);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> q(int64_t{c.num_tokens} * c.num_heads * c.head_dim);
  for (float& x : q) x = dist(*rng);
  return {std::move(kv), std::move(q)};
}

// float64 softmax(q k^T * scale) v for one row at position pos.
std::vector<double> Reference(const float* q, const PagedKv& kv, int32_t pos, float scale) {
  const int32_t hd = kv.head_dim;
  std::vector<double> s(pos + 1), out(hd, 0.0);
  double mx = -1e300, sum = 0.0;
  for (int32_t p = 0; p <= pos; ++p) {
    double dot = 0.0;
    for (int32_t d = 0; d < hd; ++d) dot += double{q[d]} * kv.k[int64_t{p} * hd + d];
    s[p] = dot * scale;
    mx = std::max(mx, s[p]);
  }
  for (int32_t p = 0; p <= pos; ++p) sum += s[p] = std::exp(s[p] - mx);
  for (int32_t p = 0; p <= pos; ++p) {
    for (int32_t d = 0; d < hd; ++d) out[d] += s[p] / sum * kv.v[int64_t{p} * hd + d];
  }
  return out;
}

const TileCase kCases[] = {
    // head_dim, block_size, heads, tokens, first_pos
    {64, 16, 3, 16, 0},
    {64, 16, 3, 1, 300},
    {64, 16, 1, 5, 31},
    {64, 4, 3, 7, 9},
    {128, 16, 2, 9, 70},
    {64, 32, 3, 16, 45},
    {64, 17, 3, 12, 20},
    {64, 1, 2, 3, 5},
    {24, 16, 3, 6, 40},
    {8, 5, 4, 16, 11},
    {12, 16, 2, 4, 19},
    {64, 16, 9, 2, 1000},
    // Several 256-key chunks of the AVX-512 kernel, and a block as large as a chunk.
    {64, 16, 3, 1, 700},
    {64, 16, 4, 16, 250},
    {80, 32, 3, 3, 520},
    {64, 256, 2, 5, 600},
};

// The AVX2 kernel requires head_dim % 8 == 0, the AVX-512 one head_dim % 16 == 0 and
// block_size % 16 == 0 (AttendTile sends other shapes to the next kernel down).
bool Runs(Kernel kernel, const TileCase& c) {
  if (kernel == internal::AttendTileAvx2) return c.head_dim % 8 == 0;
  if (kernel == internal::AttendTileAvx512) {
    return c.head_dim % 16 == 0 && c.block_size % 16 == 0 && c.block_size <= 256;
  }
  return true;
}

// The vector kernels this CPU runs, with their names.
std::vector<std::pair<Kernel, const char*>> VectorKernels() {
  std::vector<std::pair<Kernel, const char*>> kernels;
  if (HaveAvx2()) kernels.push_back({internal::AttendTileAvx2, "avx2"});
  if (HaveAvx512()) kernels.push_back({internal::AttendTileAvx512, "avx512"});
  return kernels;
}

// The reference is computed from the K/V as stored (fp16-rounded for kF16), so the bound is the
// kernel's float arithmetic alone, the same for both types.
void CheckAgainstReference(Kernel kernel, const char* name, KvDtype dtype) {
  std::mt19937 rng(7);
  for (const TileCase& c : kCases) {
    if (!Runs(kernel, c)) continue;
    SCOPED_TRACE(testing::Message() << name << " " << KvDtypeName(dtype) << " hd " << c.head_dim
                                    << " bs " << c.block_size << " heads " << c.num_heads
                                    << " tokens " << c.num_tokens << " first_pos " << c.first_pos);
    // The tile's later tokens are keys its earlier rows must not see; unused slots are NaN.
    auto [kv, q] = MakeInputs(c, dtype, &rng);
    const int64_t row_floats = int64_t{c.num_heads} * c.head_dim;
    std::vector<float> out(q.size(), -7.0f);
    AttentionScratch scratch;
    kernel(MakeTile(c, kv, q.data(), out.data()), &scratch);
    double worst = 0.0;
    for (int32_t j = 0; j < c.num_tokens; ++j) {
      for (int32_t g = 0; g < c.num_heads; ++g) {
        const int64_t off = j * row_floats + int64_t{g} * c.head_dim;
        const std::vector<double> ref =
            Reference(&q[off], kv, c.first_pos + j, 1.0f / std::sqrt(float(c.head_dim)));
        for (int32_t d = 0; d < c.head_dim; ++d) {
          ASSERT_TRUE(std::isfinite(out[off + d])) << "row " << j << "," << g << " dim " << d;
          worst = std::max(worst, std::abs(out[off + d] - ref[d]));
        }
      }
    }
    EXPECT_LT(worst, 2e-5);
  }
}

TEST(AttentionTest, ScalarMatchesFloat64Reference) {
  for (KvDtype dtype : kDtypes) CheckAgainstReference(internal::AttendTileScalar, "scalar", dtype);
}

TEST(AttentionTest, VectorKernelsMatchFloat64Reference) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2/FMA";
  for (const auto& [kernel, name] : VectorKernels()) {
    for (KvDtype dtype : kDtypes) CheckAgainstReference(kernel, name, dtype);
  }
}

// The vector kernels and the scalar twin read the same K/V (fp16 widened exactly by all) and
// differ only by float rounding (and, for AVX-512, the softmax's grouping of keys).
TEST(AttentionTest, VectorKernelsMatchScalarTwin) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2/FMA";
  std::mt19937 rng(13);
  for (const auto& [kernel, name] : VectorKernels()) {
    for (KvDtype dtype : kDtypes) {
      for (const TileCase& c : kCases) {
        if (!Runs(kernel, c)) continue;
        SCOPED_TRACE(testing::Message() << name << " " << KvDtypeName(dtype) << " hd " << c.head_dim
                                        << " bs " << c.block_size << " tokens " << c.num_tokens);
        auto [kv, q] = MakeInputs(c, dtype, &rng);
        std::vector<float> avx(q.size()), scalar(q.size());
        AttentionScratch scratch;
        kernel(MakeTile(c, kv, q.data(), avx.data()), &scratch);
        internal::AttendTileScalar(MakeTile(c, kv, q.data(), scalar.data()), &scratch);
        for (size_t i = 0; i < q.size(); ++i) ASSERT_NEAR(avx[i], scalar[i], 2e-5) << i;
      }
    }
  }
}

// fp16 K/V stay within fp16 rounding of the float32 result: the same random K/V stored both
// ways give outputs a few 1e-4 apart at most (|v| ~ 1, relative rounding 2^-11).
TEST(AttentionTest, F16IsCloseToF32) {
  const TileCase c{64, 16, 3, 16, 100};
  std::mt19937 rng32(17), rng16(17);
  PagedKv kv32(c.head_dim, c.block_size, c.first_pos + c.num_tokens, &rng32, KvDtype::kF32);
  PagedKv kv16(c.head_dim, c.block_size, c.first_pos + c.num_tokens, &rng16, KvDtype::kF16);
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> q(c.num_tokens * c.num_heads * c.head_dim), o32(q.size()), o16(q.size());
  for (float& x : q) x = dist(rng);
  AttentionScratch scratch;
  AttendTile(MakeTile(c, kv32, q.data(), o32.data()), &scratch);
  AttendTile(MakeTile(c, kv16, q.data(), o16.data()), &scratch);
  double worst = 0.0;
  for (size_t i = 0; i < q.size(); ++i) worst = std::max(worst, double{std::abs(o32[i] - o16[i])});
  EXPECT_GT(worst, 0.0);  // the rounding is really there
  EXPECT_LT(worst, 3e-3);
}

// Every row's output is bitwise the same when it is computed alone (one token, one head) or in
// the whole tile: what the backend's batch and chunking invariance needs.
TEST(AttentionTest, RowResultDoesNotDependOnTileGrouping) {
  std::vector<std::pair<Kernel, const char*>> kernels = VectorKernels();
  kernels.push_back({internal::AttendTileScalar, "scalar"});
  std::mt19937 rng(11);
  for (const auto& [kernel, name] : kernels) {
    for (KvDtype dtype : kDtypes) {
      for (const TileCase& c : kCases) {
        if (!Runs(kernel, c)) continue;
        SCOPED_TRACE(testing::Message() << name << " " << KvDtypeName(dtype) << " hd " << c.head_dim
                                        << " bs " << c.block_size << " tokens " << c.num_tokens);
        auto [kv, q] = MakeInputs(c, dtype, &rng);
        const int64_t row_floats = int64_t{c.num_heads} * c.head_dim;
        std::vector<float> whole(q.size()), alone(q.size());
        AttentionScratch scratch;
        kernel(MakeTile(c, kv, q.data(), whole.data()), &scratch);
        for (int32_t j = 0; j < c.num_tokens; ++j) {
          for (int32_t g = 0; g < c.num_heads; ++g) {
            const TileCase one{c.head_dim, c.block_size, 1, 1, c.first_pos + j};
            const int64_t off = j * row_floats + int64_t{g} * c.head_dim;
            kernel(MakeTile(one, kv, &q[off], &alone[off]), &scratch);
          }
        }
        EXPECT_EQ(std::memcmp(whole.data(), alone.data(), whole.size() * sizeof(float)), 0);
      }
    }
  }
}

// One stored K/V element as float.
float StoredAt(const KvStorage& kv, int32_t layer, int32_t k_or_v, int32_t head, int64_t i) {
  if (kv.dtype() == KvDtype::kF16) return HalfToFloat(kv.Tile0As<uint16_t>(layer, k_or_v, head)[i]);
  return kv.Tile0As<float>(layer, k_or_v, head)[i];
}

// PagedAttention over a KvStorage and a Batch of three sequences: the same bits with 1, 2 and
// 3 threads, and each sequence's rows the same as when it is the batch's only sequence.
class PagedAttentionTest : public testing::TestWithParam<KvDtype> {};

// (context_len, num_tokens) per sequence; sequence i owns blocks blocks_each * i + b. Checks
// that 1, 2 and 3 threads give the same bits, that each sequence alone (on 2 threads, where a
// lone long sequence's tiles are split into segment tasks) gives its rows' bits in the batch,
// and the last sequence's last row against float64.
void CheckThreadAndBatchInvariant(KvDtype dtype, int32_t bs, int32_t blocks_each,
                                  const std::vector<std::pair<int32_t, int32_t>>& shapes) {
  const int32_t layers = 2, kv_heads = 2, heads = 6, hd = 64, layer = 1;
  const int32_t count = static_cast<int32_t>(shapes.size());
  KvStorage kv(layers, kv_heads, hd, dtype);
  ASSERT_TRUE(kv.Init(blocks_each * count, 0, bs).ok());
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Batch batch;
  for (int32_t i = 0; i < count; ++i) {
    BatchSequence s;
    s.token_begin = batch.num_tokens();
    s.context_len = shapes[i].first;
    s.num_tokens = shapes[i].second;
    for (int32_t b = 0; b < (s.context_len + bs - 1) / bs; ++b) {
      s.block_table.push_back(blocks_each * i + b);
    }
    std::vector<float> k(kv_heads * hd), v(kv_heads * hd);
    for (int32_t p = 0; p < s.context_len; ++p) {
      for (float& x : k) x = dist(rng);
      for (float& x : v) x = dist(rng);
      kv.Write(s.block_table[p / bs], p % bs, layer, k.data(), v.data());
    }
    for (int32_t j = 0; j < s.num_tokens; ++j) {
      batch.tokens.push_back(0);
      batch.positions.push_back(s.context_len - s.num_tokens + j);
    }
    batch.sequences.push_back(s);
  }
  const int64_t q_dim = int64_t{heads} * hd;
  std::vector<float> q(batch.num_tokens() * q_dim);
  for (float& x : q) x = dist(rng);
  auto run = [&](const Batch& b, const float* qb, int threads) {
    std::vector<float> out(b.num_tokens() * q_dim);
    ThreadPool pool(threads);
    PagedAttention(b, {qb, out.data(), heads, kv_heads, hd, layer}, kv, &pool);
    return out;
  };
  const std::vector<float> one = run(batch, q.data(), 1);
  for (int threads : {2, 3}) {
    EXPECT_EQ(
        std::memcmp(one.data(), run(batch, q.data(), threads).data(), one.size() * sizeof(float)),
        0)
        << threads << " threads";
  }
  for (const BatchSequence& s : batch.sequences) {
    Batch alone;
    alone.sequences = {s};
    alone.sequences[0].token_begin = 0;
    alone.tokens.assign(s.num_tokens, 0);
    alone.positions.assign(batch.positions.begin() + s.token_begin,
                           batch.positions.begin() + s.token_begin + s.num_tokens);
    const std::vector<float> out = run(alone, &q[s.token_begin * q_dim], 2);
    EXPECT_EQ(std::memcmp(out.data(), &one[s.token_begin * q_dim], out.size() * sizeof(float)), 0);
  }
  // And the values are right: head 5 (K/V head 1) of the last sequence's last token vs float64.
  const BatchSequence& s = batch.sequences.back();
  PagedKv plain(hd, bs, 0, &rng);
  for (int32_t p = 0; p < s.context_len; ++p) {
    const int64_t block = kv.BlockElements() * s.block_table[p / bs];
    for (int32_t d = 0; d < hd; ++d)
      plain.k.push_back(StoredAt(kv, layer, 0, 1, block + d * bs + p % bs));
    for (int32_t d = 0; d < hd; ++d)
      plain.v.push_back(StoredAt(kv, layer, 1, 1, block + (p % bs) * hd + d));
  }
  const int64_t row = (s.token_begin + s.num_tokens - 1) * q_dim + 5 * hd;
  const std::vector<double> ref =
      Reference(&q[row], plain, s.context_len - 1, 1.0f / std::sqrt(float(hd)));
  for (int32_t d = 0; d < hd; ++d) EXPECT_NEAR(one[row + d], ref[d], 2e-5) << d;
}

TEST_P(PagedAttentionTest, ThreadAndBatchInvariant) {
  CheckThreadAndBatchInvariant(GetParam(), 8, 20, {{37, 37}, {120, 1}, {50, 19}});
}

// Contexts over several segments (AttentionSegmentKeys(16) = 1024 keys): a decode row 3
// segments deep, a chunk whose rows straddle the 1024 boundary, one within segment 1, and a
// short one. On 2 threads alone, each long sequence is split into segment tasks; in the batch on
// 2 threads it is not (enough tiles), on 3 threads it is again.
TEST_P(PagedAttentionTest, LongContextSegmentsAreThreadAndBatchInvariant) {
  ASSERT_EQ(AttentionSegmentKeys(16), 1024);
  CheckThreadAndBatchInvariant(GetParam(), 16, 170, {{700, 1}, {1030, 12}, {1500, 20}, {2600, 1}});
}

// One segment's merge is exactly the unsplit output; two merged segments match float64.
TEST(AttentionTest, MergeOfSegmentsMatchesWholeTile) {
  std::mt19937 rng(19);
  const TileCase c{64, 16, 3, 2, 1500};  // rows at 1500, 1501: segments [0, 1024), [1024, ..)
  for (KvDtype dtype : kDtypes) {
    auto [kv, q] = MakeInputs(c, dtype, &rng);
    const int32_t rows = c.num_tokens * c.num_heads, hd = c.head_dim;
    std::vector<float> whole(q.size()), merged(q.size());
    AttentionScratch scratch;
    // Whole-context tile (one key range) through the partial path, merged alone.
    AttentionTile t = MakeTile(c, kv, q.data(), whole.data());
    AttendTile(t, &scratch);
    std::vector<float> one(rows * (hd + 2));
    t.partial = one.data();
    AttendTile(t, &scratch);
    for (int32_t r = 0; r < rows; ++r) {
      const float* part = &one[r * (hd + 2)];
      std::vector<float> out(hd);
      MergeAttentionSegments(&part, 1, hd, out.data());
      EXPECT_EQ(std::memcmp(out.data(), &whole[r * hd], hd * sizeof(float)), 0) << r;
    }
    // Two segments.
    const int32_t seg = AttentionSegmentKeys(c.block_size);
    std::vector<float> states(2 * rows * (hd + 2));
    for (int g = 0; g < 2; ++g) {
      t.key_begin = g * seg;
      t.key_end = (g + 1) * seg;
      t.partial = &states[g * rows * (hd + 2)];
      AttendTile(t, &scratch);
    }
    for (int32_t r = 0; r < rows; ++r) {
      const float* parts[2] = {&states[r * (hd + 2)], &states[(rows + r) * (hd + 2)]};
      MergeAttentionSegments(parts, 2, hd, &merged[r * hd]);
      const std::vector<double> ref =
          Reference(&q[r * hd], kv, c.first_pos + r / c.num_heads, 1.0f / std::sqrt(float(hd)));
      for (int32_t d = 0; d < hd; ++d) EXPECT_NEAR(merged[r * hd + d], ref[d], 2e-5) << r;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, PagedAttentionTest, testing::ValuesIn(kDtypes),
                         [](const auto& info) { return std::string(KvDtypeName(info.param)); });

class KvStorageTest : public testing::TestWithParam<KvDtype> {};

// Values 100.. and 200.. are exact in fp16, so both types store them unchanged.
TEST_P(KvStorageTest, WriteLaysOutTransposedKeysAndValues) {
  const int32_t layers = 3, kv_heads = 2, hd = 4, bs = 5;
  KvStorage kv(layers, kv_heads, hd, GetParam());
  ASSERT_TRUE(kv.Init(4, 2, bs).ok());
  EXPECT_EQ(kv.BytesPerBlock(bs),
            int64_t{layers} * 2 * bs * kv_heads * hd * (GetParam() == KvDtype::kF16 ? 2 : 4));
  std::vector<float> k(kv_heads * hd), v(kv_heads * hd);
  for (int32_t i = 0; i < kv_heads * hd; ++i) {
    k[i] = 100.0f + i;
    v[i] = 200.0f + i;
  }
  kv.Write(/*block=*/2, /*slot=*/3, /*layer=*/1, k.data(), v.data());
  const int64_t block2 = 2 * kv.BlockElements(), block3 = 3 * kv.BlockElements();
  for (int32_t h = 0; h < kv_heads; ++h) {
    for (int32_t d = 0; d < hd; ++d) {
      EXPECT_EQ(StoredAt(kv, 1, 0, h, block2 + d * bs + 3), k[h * hd + d]) << h << " " << d;
      EXPECT_EQ(StoredAt(kv, 1, 1, h, block2 + 3 * hd + d), v[h * hd + d]) << h << " " << d;
    }
  }
  // Copy and a swap round trip move the whole block.
  ASSERT_TRUE(kv.Copy({{2, 0}}).ok());
  ASSERT_TRUE(kv.SwapOut({{0, 1}}).ok());
  ASSERT_TRUE(kv.SwapIn({{1, 3}}).ok());
  EXPECT_EQ(StoredAt(kv, 1, 0, 1, block3 + 2 * bs + 3), k[hd + 2]);
  EXPECT_EQ(StoredAt(kv, 1, 1, 0, block3 + 3 * hd + 1), v[1]);
}

// fp16 storage rounds each value to nearest even, wherever it lands in the tile.
TEST(KvStorageF16Test, WriteRoundsToNearestEven) {
  const int32_t kv_heads = 1, hd = 24, bs = 4;  // hd not a multiple of 8: a converter tail
  KvStorage kv(1, kv_heads, hd, KvDtype::kF16);
  ASSERT_TRUE(kv.Init(2, 0, bs).ok());
  std::mt19937 rng(9);
  std::normal_distribution<float> dist(0.0f, 100.0f);
  std::vector<float> k(hd), v(hd);
  for (float& x : k) x = dist(rng);
  for (float& x : v) x = dist(rng);
  k[0] = 1e6f;                                     // overflow: inf
  v[1] = std::numeric_limits<float>::quiet_NaN();  // stays NaN
  kv.Write(1, 2, 0, k.data(), v.data());
  const uint16_t* kt = kv.Tile0As<uint16_t>(0, 0, 0) + kv.BlockElements();
  const uint16_t* vt = kv.Tile0As<uint16_t>(0, 1, 0) + kv.BlockElements();
  for (int32_t d = 0; d < hd; ++d) {
    EXPECT_EQ(kt[d * bs + 2], FloatToHalf(k[d])) << d;
    EXPECT_EQ(vt[2 * hd + d], FloatToHalf(v[d])) << d;
  }
  EXPECT_EQ(kt[2], 0x7C00);
  EXPECT_EQ(vt[2 * hd + 1] & 0x7C00, 0x7C00);
  EXPECT_NE(vt[2 * hd + 1] & 0x3FF, 0);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, KvStorageTest, testing::ValuesIn(kDtypes),
                         [](const auto& info) { return std::string(KvDtypeName(info.param)); });

TEST(OpsTest, SiluMulMatchesStdExpAndIsPositionIndependent) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-30.0f, 30.0f);
  std::vector<float> g(1003), u(1003);
  for (float& x : g) x = dist(rng);
  for (float& x : u) x = dist(rng) / 10.0f;
  g[0] = 0.0f;
  g[1] = -100.0f;
  g[2] = 100.0f;
  std::vector<float> h(g.size());
  ThreadPool pool(2);
  SiluMul(g.data(), u.data(), g.size(), h.data(), &pool);
  for (size_t i = 0; i < g.size(); ++i) {
    const double want = g[i] / (1.0 + std::exp(-double{g[i]})) * u[i];
    EXPECT_NEAR(h[i], want, 2e-6 * std::abs(want) + 1e-30) << i << " g " << g[i];
  }
  if (HaveAvx2()) {
    // Each element's bits are the same at any offset and in any count (tails included).
    for (int64_t off : {1, 5, 13}) {
      std::vector<float> part(7);
      internal::SiluMulAvx2(&g[off], &u[off], 7, part.data());
      std::vector<float> full(g.size());
      internal::SiluMulAvx2(g.data(), u.data(), g.size(), full.data());
      EXPECT_EQ(std::memcmp(part.data(), &full[off], 7 * sizeof(float)), 0) << off;
    }
  }
}

TEST(OpsTest, RopeTableMatchesDirectAngles) {
  ModelConfig c;
  c.head_dim = 8;
  c.rope_dims = 8;
  c.rope_base = 10000.0f;
  c.rope_linear_scale = 1.0f;
  for (RopeStyle style : {RopeStyle::kNormal, RopeStyle::kNeox}) {
    c.rope_style = style;
    Rope rope(c, {});
    const std::vector<int32_t> positions = {0, 1, 7, 4095};
    std::vector<float> table(positions.size() * rope.table_width());
    rope.CosSin(positions.data(), positions.size(), table.data());
    for (size_t t = 0; t < positions.size(); ++t) {
      std::vector<float> x(16), y(16);
      for (int i = 0; i < 16; ++i) x[i] = y[i] = 0.25f * i - 1.0f;
      rope.Apply(x.data(), 2, &table[t * rope.table_width()]);
      // Independent: rotate pair (a, b) by pos * base^(-2i/d) in float64 (the frequency
      // rounded to float, as the model's inv_freq table is).
      for (int h = 0; h < 2; ++h) {
        for (int i = 0; i < 4; ++i) {
          const int a = h * 8 + (style == RopeStyle::kNormal ? 2 * i : i);
          const int b = h * 8 + (style == RopeStyle::kNormal ? 2 * i + 1 : i + 4);
          const double ang =
              positions[t] * double{static_cast<float>(std::pow(10000.0, -2.0 * i / 8))};
          EXPECT_NEAR(x[a], y[a] * std::cos(ang) - y[b] * std::sin(ang), 2e-6);
          EXPECT_NEAR(x[b], y[a] * std::sin(ang) + y[b] * std::cos(ang), 2e-6);
        }
      }
    }
  }
}

}  // namespace
}  // namespace hearth::engine::cpu
