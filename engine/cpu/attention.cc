#include "engine/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "engine/cpu/kernels/matmul.h"
#include "engine/quant/fp16.h"

namespace hearth::engine::cpu {
namespace {

constexpr float kLog2e = 1.4426950408889634f;

// One unit of parallel work: a tile of one sequence and one K/V head.
struct TileTask {
  int32_t sequence;
  int32_t kv_head;
  int32_t token_offset;  // first new token of the tile, relative to the sequence's first
  int32_t num_tokens;
  int64_t cost;  // query rows x keys, for balancing
};

// Greedy longest-first assignment of tasks to `threads` lists with balanced total cost. Which
// thread runs a tile never changes its result (see attention.h); this only evens the load.
std::vector<std::vector<int32_t>> Balance(const std::vector<TileTask>& tasks, int threads) {
  std::vector<int32_t> order(tasks.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return tasks[a].cost > tasks[b].cost; });
  std::vector<std::vector<int32_t>> lists(threads);
  std::vector<int64_t> load(threads, 0);
  for (int32_t i : order) {
    const int t = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    lists[t].push_back(i);
    load[t] += tasks[i].cost;
  }
  return lists;
}

// One K/V element as float: exact for both storage types.
inline float LoadKv(const float* p) { return *p; }
inline float LoadKv(const uint16_t* p) { return HalfToFloat(*p); }

template <typename T>
void AttendTileScalarTyped(const AttentionTile& t, AttentionScratch* s) {
  const int32_t hd = t.head_dim;
  const int32_t bs = t.block_size;
  const int32_t rows = t.num_tokens * t.num_heads;
  const float q_scale = t.scale * kLog2e;
  s->q.resize(int64_t{rows} * hd);
  s->acc.assign(int64_t{rows} * hd, 0.0f);
  s->e.resize(bs);
  s->m.assign(rows, -std::numeric_limits<float>::infinity());
  s->l.assign(rows, 0.0f);
  for (int32_t r = 0; r < rows; ++r) {
    const float* src = t.q + (r / t.num_heads) * t.row_stride + (r % t.num_heads) * hd;
    for (int32_t d = 0; d < hd; ++d) s->q[int64_t{r} * hd + d] = src[d] * q_scale;
  }
  const int32_t last_pos = t.first_pos + t.num_tokens - 1;
  for (int32_t b = 0; b <= last_pos / bs; ++b) {
    const int32_t start = b * bs;
    const T* kt = static_cast<const T*>(t.k0) + t.block_stride * t.block_table[b];  // [hd][bs]
    const T* v = static_cast<const T*>(t.v0) + t.block_stride * t.block_table[b];   // [bs][hd]
    // Rows whose position reaches this block: tokens j >= start - first_pos.
    for (int32_t r = std::max(0, start - t.first_pos) * t.num_heads; r < rows; ++r) {
      const int32_t valid = std::min(bs, t.first_pos + r / t.num_heads - start + 1);
      const float* q = &s->q[int64_t{r} * hd];
      float* e = s->e.data();
      for (int32_t p = 0; p < valid; ++p) e[p] = 0.0f;
      for (int32_t d = 0; d < hd; ++d) {
        for (int32_t p = 0; p < valid; ++p) e[p] += q[d] * LoadKv(&kt[int64_t{d} * bs + p]);
      }
      float m_new = s->m[r];
      for (int32_t p = 0; p < valid; ++p) m_new = std::max(m_new, e[p]);
      const float corr =
          s->m[r] == -std::numeric_limits<float>::infinity() ? 0.0f : std::exp2(s->m[r] - m_new);
      s->m[r] = m_new;
      float l = s->l[r] * corr;
      for (int32_t p = 0; p < valid; ++p) {
        e[p] = std::exp2(e[p] - m_new);
        l += e[p];
      }
      s->l[r] = l;
      float* acc = &s->acc[int64_t{r} * hd];
      if (corr != 1.0f) {
        for (int32_t d = 0; d < hd; ++d) acc[d] *= corr;
      }
      for (int32_t p = 0; p < valid; ++p) {
        const T* vp = v + int64_t{p} * hd;
        for (int32_t d = 0; d < hd; ++d) acc[d] += e[p] * LoadKv(&vp[d]);
      }
    }
  }
  for (int32_t r = 0; r < rows; ++r) {
    float* out = t.out + (r / t.num_heads) * t.row_stride + (r % t.num_heads) * hd;
    const float inv_l = 1.0f / s->l[r];
    for (int32_t d = 0; d < hd; ++d) out[d] = s->acc[int64_t{r} * hd + d] * inv_l;
  }
}

}  // namespace

namespace internal {

bool AttentionUsesAvx2(int32_t head_dim) {
  // The kAvx2 path requires F16C too, which the fp16 K/V loads use.
  static const bool avx2 = ActiveCpuKernelPath() != CpuKernelPath::kScalar &&
                           CpuKernelPathSupported(CpuKernelPath::kAvx2);
  return avx2 && head_dim % 8 == 0;
}

void AttendTileScalar(const AttentionTile& tile, AttentionScratch* scratch) {
  if (tile.kv_dtype == KvDtype::kF16) {
    AttendTileScalarTyped<uint16_t>(tile, scratch);
  } else {
    AttendTileScalarTyped<float>(tile, scratch);
  }
}

bool AttentionUsesAvx512(int32_t head_dim, int32_t block_size) {
  static const bool avx512 = ActiveCpuKernelPath() == CpuKernelPath::kAvx512;
  return avx512 && head_dim % 16 == 0 && block_size % 16 == 0 && block_size <= 256;
}

}  // namespace internal

void AttendTile(const AttentionTile& tile, AttentionScratch* scratch) {
  if (internal::AttentionUsesAvx512(tile.head_dim, tile.block_size)) {
    internal::AttendTileAvx512(tile, scratch);
  } else if (internal::AttentionUsesAvx2(tile.head_dim)) {
    internal::AttendTileAvx2(tile, scratch);
  } else {
    internal::AttendTileScalar(tile, scratch);
  }
}

void PagedAttention(const Batch& batch, const PagedAttentionParams& p, const KvStorage& kv,
                    ThreadPool* pool) {
  const int32_t group = p.num_heads / p.num_kv_heads;  // query heads per K/V head
  const int64_t q_dim = int64_t{p.num_heads} * p.head_dim;
  std::vector<TileTask> tasks;
  for (int32_t s = 0; s < static_cast<int32_t>(batch.sequences.size()); ++s) {
    const BatchSequence& seq = batch.sequences[s];
    const int32_t first_pos = seq.context_len - seq.num_tokens;
    for (int32_t h = 0; h < p.num_kv_heads; ++h) {
      for (int32_t j = 0; j < seq.num_tokens; j += kAttentionTileTokens) {
        const int32_t n = std::min(kAttentionTileTokens, seq.num_tokens - j);
        const int64_t keys = first_pos + j + (n + 1) / 2;  // average context of the rows
        tasks.push_back({s, h, j, n, int64_t{n} * group * (keys + 8)});
      }
    }
  }
  const int threads = pool == nullptr ? 1 : pool->num_threads();
  const std::vector<std::vector<int32_t>> lists = Balance(tasks, threads);
  auto run = [&](int64_t begin, int64_t end) {
    AttentionScratch scratch;
    for (int64_t t = begin; t < end; ++t) {
      for (int32_t i : lists[t]) {
        const TileTask& task = tasks[i];
        const BatchSequence& seq = batch.sequences[task.sequence];
        const int64_t row0 = int64_t{seq.token_begin} + task.token_offset;
        const int64_t col0 = int64_t{task.kv_head} * group * p.head_dim;
        AttentionTile tile;
        tile.q = p.q + row0 * q_dim + col0;
        tile.out = p.out + row0 * q_dim + col0;
        tile.row_stride = q_dim;
        tile.num_tokens = task.num_tokens;
        tile.num_heads = group;
        tile.first_pos = seq.context_len - seq.num_tokens + task.token_offset;
        tile.head_dim = p.head_dim;
        tile.scale = 1.0f / std::sqrt(static_cast<float>(p.head_dim));
        tile.block_table = seq.block_table.data();
        tile.k0 = kv.Tile0(p.layer, 0, task.kv_head);
        tile.v0 = kv.Tile0(p.layer, 1, task.kv_head);
        tile.kv_dtype = kv.dtype();
        tile.block_stride = kv.BlockElements();
        tile.block_size = kv.block_size();
        AttendTile(tile, &scratch);
      }
    }
  };
  if (pool == nullptr) {
    run(0, 1);
  } else {
    pool->ParallelFor(threads, run);
  }
}

}  // namespace hearth::engine::cpu
