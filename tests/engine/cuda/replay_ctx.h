// A host context for the CUDA kernel bodies (engine/cuda/kernel_ctx.cuh): runs a kernel's body
// on the CPU with one std::thread per simulated GPU thread of a block, blocks one after another.
// __syncthreads / __syncwarp become barriers, warp shuffles an exchange through per-warp slots,
// and mma.sync m16n8k16 is emulated from the 32 lanes' fragments (the PTX ISA's layout) with
// exact products summed in double, rounded to float once. Shared memory is poisoned with 0xFF
// (NaN) before each block, so reads of unwritten shared memory show up.
//
// Compiled by nvcc as host code (a .cu file) since the bodies are __host__ __device__ templates.
// A barrier that waits more than 60 s aborts with a message: a body whose collective calls
// diverge within a warp would hang on a GPU too.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "engine/quant/fp16.h"

namespace hearth::engine::cuda_test {

// A generation barrier. Waiters yield rather than sleep: a replay runs hundreds of threads on a
// few cores, where sleeping on a condition variable costs far more than yielding.
class ReplayBarrier {
 public:
  explicit ReplayBarrier(int count, bool serial = false) : count_(count), serial_(serial) {}
  void Wait() {
    if (serial_) {
      std::fprintf(stderr, "replay: a collective call in a body replayed thread by thread\n");
      std::abort();
    }
    const uint64_t gen = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == count_) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.store(gen + 1, std::memory_order_release);
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    for (uint64_t spins = 1; generation_.load(std::memory_order_acquire) == gen; ++spins) {
      std::this_thread::yield();
      if (spins % (1 << 16) == 0 &&
          std::chrono::steady_clock::now() - start > std::chrono::seconds(60)) {
        std::fprintf(stderr, "replay: a barrier waited 60 s (diverging collective calls?)\n");
        std::abort();
      }
    }
  }

 private:
  const int count_;
  const bool serial_;
  std::atomic<int> arrived_{0};
  std::atomic<uint64_t> generation_{0};
};

// State shared by the threads of one simulated block.
struct ReplayBlock {
  explicit ReplayBlock(int threads, bool serial = false) : block(threads, serial) {
    for (int w = 0; w < (threads + 31) / 32; ++w) warps.emplace_back(new Warp(serial));
  }
  struct Warp {
    explicit Warp(bool serial) : barrier(32, serial) {}
    ReplayBarrier barrier;
    // Double-buffered exchange slots: one barrier per exchange (a lane can only be one exchange
    // ahead of the slowest, so it never overwrites slots still being read).
    float f[2][32];
    uint32_t a[2][32][4];
    uint32_t b[2][32][2];
  };
  ReplayBarrier block;
  std::vector<std::unique_ptr<Warp>> warps;
  int bx = 0, by = 0;
};

struct HostCtx {
  ReplayBlock* blk;
  int tid;
  int nthreads;
  int phase_ = 0;  // which exchange slots this lane's next collective call uses

  int block_x() const { return blk->bx; }
  int block_y() const { return blk->by; }
  int thread() const { return tid; }
  int threads() const { return nthreads; }
  void SyncBlock() { blk->block.Wait(); }
  void SyncWarp() { warp().barrier.Wait(); }
  float ShflXor(float v, int mask) { return Exchange(v, (tid % 32) ^ mask); }
  float Shfl(float v, int src_lane) { return Exchange(v, src_lane); }
  void Mma16816(float* d, const uint32_t* a, const uint32_t* b) {
    ReplayBlock::Warp& w = warp();
    const int lane = tid % 32;
    const int ph = phase_;
    phase_ ^= 1;
    std::memcpy(w.a[ph][lane], a, sizeof(w.a[ph][lane]));
    std::memcpy(w.b[ph][lane], b, sizeof(w.b[ph][lane]));
    w.barrier.Wait();
    const int g = lane / 4, c = lane % 4;
    for (int i = 0; i < 4; ++i) {
      const int row = g + 8 * (i / 2), col = 2 * c + i % 2;
      double sum = 0.0;
      for (int k = 0; k < 16; ++k) {
        sum += static_cast<double>(A(w.a[ph], row, k)) * B(w.b[ph], k, col);
      }
      d[i] = static_cast<float>(static_cast<double>(d[i]) + sum);
    }
  }

 private:
  ReplayBlock::Warp& warp() { return *blk->warps[tid / 32]; }
  float Exchange(float v, int src) {
    ReplayBlock::Warp& w = warp();
    const int ph = phase_;
    phase_ ^= 1;
    w.f[ph][tid % 32] = v;
    w.barrier.Wait();
    return w.f[ph][src];
  }
  static float Half(uint32_t word, int high) {
    return HalfToFloat(static_cast<uint16_t>(high ? word >> 16 : word & 0xFFFF));
  }
  // A[row][k] from the lane that holds it: lane g = row % 8, c = (k % 8) / 2, register
  // (row >= 8) + 2 (k >= 8), half k % 2.
  static float A(const uint32_t (*a)[4], int row, int k) {
    const int lane = 4 * (row % 8) + (k % 8) / 2;
    return Half(a[lane][(row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0)], k % 2);
  }
  // B[k][col]: lane g = col, c = (k % 8) / 2, register k >= 8, half k % 2.
  static float B(const uint32_t (*b)[2], int k, int col) {
    const int lane = 4 * col + (k % 8) / 2;
    return Half(b[lane][k >= 8 ? 1 : 0], k % 2);
  }
};

// Runs body(ctx, smem) for every thread of every block of a (gx, gy) grid of `threads`-thread
// blocks (a multiple of 32), with `smem_bytes` of shared memory per block.
inline void ReplayGrid(int gx, int gy, int threads, size_t smem_bytes,
                       const std::function<void(HostCtx&, uint8_t*)>& body) {
  std::vector<uint8_t> smem(smem_bytes + 16);
  for (int by = 0; by < gy; ++by) {
    for (int bx = 0; bx < gx; ++bx) {
      ReplayBlock blk(threads);
      blk.bx = bx;
      blk.by = by;
      std::memset(smem.data(), 0xFF, smem.size());
      std::vector<std::thread> pool;
      pool.reserve(threads);
      for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          HostCtx ctx{&blk, t, threads};
          body(ctx, smem.data());
        });
      }
      for (std::thread& th : pool) th.join();
    }
  }
}

// As ReplayGrid for bodies without collective calls (element-wise kernels): threads run one
// after another on the calling thread (a collective call aborts).
inline void ReplayGridSerial(int gx, int gy, int threads,
                             const std::function<void(HostCtx&)>& body) {
  for (int by = 0; by < gy; ++by) {
    for (int bx = 0; bx < gx; ++bx) {
      ReplayBlock blk(threads, /*serial=*/true);
      blk.bx = bx;
      blk.by = by;
      for (int t = 0; t < threads; ++t) {
        HostCtx ctx{&blk, t, threads};
        body(ctx);
      }
    }
  }
}

}  // namespace hearth::engine::cuda_test
