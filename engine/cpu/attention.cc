#include "engine/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "engine/cpu/kernels/matmul.h"
#include "engine/quant/fp16.h"

namespace hearth::engine::cpu {
namespace {

// With fewer tiles than this per thread, tiles whose context spans several segments are split
// into one task per segment (a single long-context stream would otherwise leave threads idle:
// 3 K/V heads on 2 threads).
constexpr int kSplitBelowTilesPerThread = 4;

// One unit of parallel work: a tile of one sequence and one K/V head, all of its context
// segments (segment < 0) or one of them (its state to the partials buffer at `partial`).
struct TileTask {
  int32_t sequence;
  int32_t kv_head;
  int32_t token_offset;  // first new token of the tile, relative to the sequence's first
  int32_t num_tokens;
  int32_t segment = -1;
  int64_t partial = 0;  // floats into the partials buffer
  int64_t cost = 0;     // query rows x keys, for balancing
};

// A split tile's rows, merged after the segment tasks: `segments` states of
// rows * (head_dim + 2) floats each from `partial` on.
struct MergeJob {
  int32_t task;  // the tile's segment-0 task (sequence, head, tokens)
  int32_t segments;
  int64_t partial;
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
  const float q_scale = t.scale * internal::kLog2e;
  s->q.resize(int64_t{rows} * hd);
  s->acc.assign(int64_t{rows} * hd, 0.0f);
  s->e.resize(bs);
  s->m.assign(rows, -std::numeric_limits<float>::infinity());
  s->l.assign(rows, 0.0f);
  for (int32_t r = 0; r < rows; ++r) {
    const float* src = t.q + (r / t.num_heads) * t.row_stride + (r % t.num_heads) * hd;
    for (int32_t d = 0; d < hd; ++d) s->q[int64_t{r} * hd + d] = src[d] * q_scale;
  }
  const int32_t keys = std::min(t.first_pos + t.num_tokens, t.key_end);
  for (int32_t b = t.key_begin / bs; b * bs < keys; ++b) {
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
  internal::FinishTile(t, *s);
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

void FinishTile(const AttentionTile& t, const AttentionScratch& s) {
  const int32_t hd = t.head_dim;
  const int32_t rows = t.num_tokens * t.num_heads;
  for (int32_t r = 0; r < rows; ++r) {
    const float* acc = &s.acc[int64_t{r} * hd];
    if (t.partial != nullptr) {
      float* state = t.partial + int64_t{r} * (hd + 2);
      state[0] = s.m[r];
      state[1] = s.l[r];
      std::copy(acc, acc + hd, state + 2);
      continue;
    }
    float* out = t.out + (r / t.num_heads) * t.row_stride + (r % t.num_heads) * hd;
    const float inv_l = 1.0f / s.l[r];
    for (int32_t d = 0; d < hd; ++d) out[d] = acc[d] * inv_l;
  }
}

bool AttentionUsesAvx512(int32_t head_dim, int32_t block_size) {
  static const bool avx512 = ActiveCpuKernelPath() == CpuKernelPath::kAvx512;
  return avx512 && head_dim % 16 == 0 && block_size % 16 == 0 && block_size <= 256;
}

}  // namespace internal

void MergeAttentionSegments(const float* const* parts, int32_t count, int32_t head_dim,
                            float* out) {
  float m = -std::numeric_limits<float>::infinity();
  for (int32_t i = 0; i < count; ++i) m = std::max(m, parts[i][0]);
  bool first = true;
  float l = 0.0f;
  for (int32_t i = 0; i < count; ++i) {
    const float* state = parts[i];
    if (state[0] == -std::numeric_limits<float>::infinity()) continue;
    // w = 1 exactly for the segment holding the max, so a single segment gives acc * (1 / l),
    // the bits FinishTile writes.
    const float w = state[0] == m ? 1.0f : std::exp2(state[0] - m);
    if (first) {
      l = state[1] * w;
      for (int32_t d = 0; d < head_dim; ++d) out[d] = state[2 + d] * w;
      first = false;
    } else {
      l += state[1] * w;
      for (int32_t d = 0; d < head_dim; ++d) out[d] += state[2 + d] * w;
    }
  }
  const float inv_l = 1.0f / l;
  for (int32_t d = 0; d < head_dim; ++d) out[d] *= inv_l;
}

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
  const int32_t hd = p.head_dim;
  const int32_t segment_keys = AttentionSegmentKeys(kv.block_size());
  auto segments_of = [&](int32_t keys) { return (keys + segment_keys - 1) / segment_keys; };
  const int threads = pool == nullptr ? 1 : pool->num_threads();
  std::vector<TileTask> tiles;
  for (int32_t s = 0; s < static_cast<int32_t>(batch.sequences.size()); ++s) {
    const BatchSequence& seq = batch.sequences[s];
    const int32_t first_pos = seq.context_len - seq.num_tokens;
    for (int32_t h = 0; h < p.num_kv_heads; ++h) {
      for (int32_t j = 0; j < seq.num_tokens; j += kAttentionTileTokens) {
        const int32_t n = std::min(kAttentionTileTokens, seq.num_tokens - j);
        const int64_t keys = first_pos + j + (n + 1) / 2;  // average context of the rows
        tiles.push_back({s, h, j, n, -1, 0, int64_t{n} * group * (keys + 8)});
      }
    }
  }
  // Split the long tiles of a small batch into segment tasks.
  const bool split = threads > 1 && tiles.size() < size_t{kSplitBelowTilesPerThread} * threads;
  std::vector<TileTask> tasks;
  std::vector<MergeJob> merges;
  int64_t partial_floats = 0;
  for (const TileTask& tile : tiles) {
    const BatchSequence& seq = batch.sequences[tile.sequence];
    const int32_t keys = seq.context_len - seq.num_tokens + tile.token_offset + tile.num_tokens;
    const int32_t segments = segments_of(keys);
    if (!split || segments == 1) {
      tasks.push_back(tile);
      continue;
    }
    const int64_t state_floats = int64_t{tile.num_tokens} * group * (hd + 2);
    merges.push_back({static_cast<int32_t>(tasks.size()), segments, partial_floats});
    for (int32_t g = 0; g < segments; ++g) {
      TileTask task = tile;
      task.segment = g;
      task.partial = partial_floats;
      const int64_t seg_keys = std::min(keys, (g + 1) * segment_keys) - g * segment_keys;
      task.cost = int64_t{tile.num_tokens} * group * (seg_keys + 8);
      tasks.push_back(task);
      partial_floats += state_floats;
    }
  }
  std::vector<float> partials(partial_floats);

  auto make_tile = [&](const TileTask& task) {
    const BatchSequence& seq = batch.sequences[task.sequence];
    const int64_t row0 = int64_t{seq.token_begin} + task.token_offset;
    const int64_t col0 = int64_t{task.kv_head} * group * hd;
    AttentionTile tile;
    tile.q = p.q + row0 * q_dim + col0;
    tile.out = p.out + row0 * q_dim + col0;
    tile.row_stride = q_dim;
    tile.num_tokens = task.num_tokens;
    tile.num_heads = group;
    tile.first_pos = seq.context_len - seq.num_tokens + task.token_offset;
    tile.head_dim = hd;
    tile.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    tile.block_table = seq.block_table.data();
    tile.k0 = kv.Tile0(p.layer, 0, task.kv_head);
    tile.v0 = kv.Tile0(p.layer, 1, task.kv_head);
    tile.kv_dtype = kv.dtype();
    tile.block_stride = kv.BlockElements();
    tile.block_size = kv.block_size();
    return tile;
  };
  // Segment g of a tile: its rows' states to `states`.
  auto attend_segment = [&](AttentionTile tile, int32_t g, float* states,
                            AttentionScratch* scratch) {
    tile.key_begin = g * segment_keys;
    tile.key_end = tile.key_begin + segment_keys;
    tile.partial = states;
    AttendTile(tile, scratch);
  };
  // Row r of a tile from `segments` consecutive states at `states`, into the tile's output.
  auto merge_rows = [&](const AttentionTile& tile, const float* states, int32_t segments) {
    const int32_t rows = tile.num_tokens * tile.num_heads;
    const int64_t state_floats = int64_t{rows} * (hd + 2);
    std::vector<const float*> parts(segments);
    for (int32_t r = 0; r < rows; ++r) {
      for (int32_t g = 0; g < segments; ++g) parts[g] = states + g * state_floats + r * (hd + 2);
      float* out = tile.out + (r / tile.num_heads) * tile.row_stride + (r % tile.num_heads) * hd;
      MergeAttentionSegments(parts.data(), segments, hd, out);
    }
  };

  const std::vector<std::vector<int32_t>> lists = Balance(tasks, threads);
  auto run = [&](int64_t begin, int64_t end) {
    AttentionScratch scratch;
    std::vector<float> own_states;  // a whole multi-segment tile's states (unsplit)
    for (int64_t t = begin; t < end; ++t) {
      for (int32_t i : lists[t]) {
        const TileTask& task = tasks[i];
        AttentionTile tile = make_tile(task);
        if (task.segment >= 0) {  // one segment of a split tile
          attend_segment(tile, task.segment, &partials[task.partial], &scratch);
          continue;
        }
        const int32_t segments = segments_of(tile.first_pos + tile.num_tokens);
        if (segments == 1) {
          AttendTile(tile, &scratch);
          continue;
        }
        const int64_t state_floats = int64_t{tile.num_tokens} * group * (hd + 2);
        own_states.resize(segments * state_floats);
        for (int32_t g = 0; g < segments; ++g) {
          attend_segment(tile, g, &own_states[g * state_floats], &scratch);
        }
        merge_rows(tile, own_states.data(), segments);
      }
    }
  };
  if (pool == nullptr) {
    run(0, 1);
  } else {
    pool->ParallelFor(threads, run);
  }
  for (const MergeJob& job : merges) {
    merge_rows(make_tile(tasks[job.task]), &partials[job.partial], job.segments);
  }
}

}  // namespace hearth::engine::cpu
