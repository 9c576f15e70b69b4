// Host-side replays of the CUDA kernels' device code (compiled by nvcc, callable from C++20
// tests): the __host__ __device__ block decoders and one GEMV warp per row. Type numbers are
// GGUF's (static_cast<uint32_t>(GgmlType)).
#pragma once

#include <cstdint>
#include <string>

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

}  // namespace hearth::engine::cuda_test
