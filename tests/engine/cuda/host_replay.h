// Host-side replays of the CUDA kernels' device code (compiled by nvcc, callable from C++20
// tests): the __host__ __device__ block decoders and one GEMV warp per row. Type numbers are
// GGUF's (static_cast<uint32_t>(GgmlType)).
#pragma once

#include <cstdint>
#include <string>

#include "engine/cuda/attention_kernels.h"
#include "engine/cuda/mma_gemm.h"
#include "engine/cuda/moe_kernels.h"
#include "engine/cuda/ops_kernels.h"

namespace hearth::engine::cuda_test {

// out[i], i < n: the decoded elements, via the device decoders' Group() on the host.
// False for an unsupported type.
bool HostDecode(uint32_t type, const uint8_t* blocks, int64_t n, float* out);

// y[n, rows] = x[n, cols] * W^T by replaying GemvKernel's warps on the host: every chunk staged
// as 16-byte words from its start aligned down (as the kernel's uint4 loads do), 32 lanes of
// GemvLaneChunk, then the xor-butterfly lane sum. `w` must be 16-byte aligned and readable up
// to w_end_readable. Returns an empty string, or what went wrong (a read outside
// [w, w_end_readable), a chunk larger than the staging buffer, an unsupported type).
std::string HostReplayGemv(uint32_t type, const uint8_t* w, const uint8_t* w_end_readable,
                           const float* x, int64_t rows, int64_t cols, int n, float* y);

// The CudaOps kernels' bodies run on the host through replay_ctx.h, with the launchers' grid and
// block shapes (host_replay_ops.cu). Pointers in the params are host memory. Types are GGUF
// numbers; false for an unsupported type.
bool ReplayEmbed(const cuda::EmbedParams& p);
void ReplayRmsNorm(const cuda::RmsNormParams& p);
void ReplayRopeTable(const cuda::RopeTableParams& p);
void ReplayRopeStore(const cuda::RopeStoreParams& p);
void ReplaySiluMul(const cuda::SiluMulParams& p);
void ReplayGather(const cuda::GatherParams& p);
bool ReplayMmaGemm(const cuda::MmaGemmParams& p);
void ReplayAttention(const cuda::AttentionParams& p);
void ReplayMoeCombine(const cuda::MoeCombineParams& p);

}  // namespace hearth::engine::cuda_test
