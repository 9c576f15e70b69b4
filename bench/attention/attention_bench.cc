// hearth_attention_bench: the CPU attention tile kernel on the default model's shapes (head_dim
// 64, 3 query heads per K/V head, block size 16), one thread.
//
//   hearth_attention_bench [--contexts=128,512,2048] [--pool_mib=1024]
//
// For decode tiles (1 new token) and prefill tiles (16 new tokens) at each context and K/V
// dtype: ns per call and GFLOP/s (2 * 2 * rows * keys * head_dim: the QK and PV products).
// Every call reads a different random set of blocks of a 1 GiB pool (K/V stream from DRAM, as
// in a decode step over many sequences).
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/cpu/attention.h"
#include "engine/cpu/kv_storage.h"

namespace hearth::engine::cpu {
namespace {

constexpr int32_t kHeadDim = 64, kGroup = 3, kBlockSize = 16;
// Default pool 1 GiB: > the dev box's 480 MiB L3, so K/V stream from DRAM. --pool_mib=64 keeps
// them cache-resident (a decode step's K/V of one layer, as in the engine, is a few MiB).
int64_t g_pool_bytes = int64_t{1} << 30;
constexpr int kTables = 256;  // each call reads another random set of blocks

double Run(KvDtype dtype, int32_t context, int32_t tokens) {
  const int64_t elem = dtype == KvDtype::kF16 ? 2 : 4;
  const int64_t block_elems = int64_t{2} * kHeadDim * kBlockSize;  // K tile, then V tile
  const int32_t pool_blocks = static_cast<int32_t>(g_pool_bytes / (block_elems * elem));
  static uint8_t* pool_data = [] {
    auto* bytes = static_cast<uint8_t*>(std::aligned_alloc(size_t{2} << 20, g_pool_bytes));
    if (std::getenv("HUGE")) madvise(bytes, g_pool_bytes, MADV_HUGEPAGE);
    std::mt19937 fill(7);
    // Halves in [0.125, 1) read as fp16; as floats the same bytes are moderate normals too.
    auto* p = reinterpret_cast<uint16_t*>(bytes);
    for (int64_t i = 0; i < g_pool_bytes / 2; ++i)
      p[i] = static_cast<uint16_t>(0x3000 + fill() % 0xBFF);
    return bytes;
  }();
  struct {
    uint8_t* data() const { return pool_data; }
  } pool;
  std::mt19937 rng(1);
  const int32_t blocks = (context + kBlockSize - 1) / kBlockSize;
  std::vector<std::vector<int32_t>> tables(kTables, std::vector<int32_t>(blocks));
  std::uniform_int_distribution<int32_t> pick(0, pool_blocks - 1);
  for (auto& table : tables) {
    for (int32_t& b : table) b = pick(rng);
  }
  std::vector<float> q(int64_t{tokens} * kGroup * kHeadDim), out(q.size());
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (float& v : q) v = n(rng);

  AttentionTile t;
  t.q = q.data();
  t.out = out.data();
  t.row_stride = int64_t{kGroup} * kHeadDim;
  t.num_tokens = tokens;
  t.num_heads = kGroup;
  t.first_pos = context - tokens;
  t.head_dim = kHeadDim;
  t.scale = 0.125f;
  t.block_table = tables[0].data();
  t.k0 = pool.data();
  t.v0 = pool.data() + int64_t{kHeadDim} * kBlockSize * elem;
  t.kv_dtype = dtype;
  t.block_stride = block_elems;
  t.block_size = kBlockSize;
  AttentionScratch scratch;
  AttendTile(t, &scratch);
  double best = 1e30;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    int calls = 0;
    double sec = 0;
    do {
      t.block_table = tables[calls % kTables].data();
      AttendTile(t, &scratch);
      ++calls;
      sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } while (sec < 0.05);
    best = std::min(best, sec / calls);
  }
  return best;
}

int Main(int argc, char** argv) {
  std::vector<int32_t> contexts = {128, 512, 2048};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--pool_mib=", 0) == 0) g_pool_bytes = std::stoll(a.substr(11)) << 20;
    if (a.rfind("--contexts=", 0) == 0) {
      contexts.clear();
      std::stringstream ss(a.substr(11));
      for (std::string item; std::getline(ss, item, ',');) contexts.push_back(std::stoi(item));
    }
  }
  std::printf("%-6s %-8s %8s %12s %9s\n", "kv", "tile", "context", "ns/call", "GFLOP/s");
  for (KvDtype dtype : {KvDtype::kF16, KvDtype::kF32}) {
    for (int32_t tokens : {1, 16}) {
      for (int32_t context : contexts) {
        const double sec = Run(dtype, context, tokens);
        // Rows attend to (on average) context - tokens / 2 keys.
        const double keys = context - tokens / 2.0;
        const double flops = 4.0 * tokens * kGroup * keys * kHeadDim;
        std::printf("%-6s %-8s %8d %12.0f %9.1f\n", dtype == KvDtype::kF16 ? "f16" : "f32",
                    tokens == 1 ? "decode" : "prefill", context, sec * 1e9, flops / sec / 1e9);
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace hearth::engine::cpu

int main(int argc, char** argv) { return hearth::engine::cpu::Main(argc, argv); }
