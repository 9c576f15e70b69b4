// Memory read bandwidth of this machine: the roofline that memory-bound decode is judged by.
#pragma once

#include <cstdint>

namespace hearth::bench {

// STREAM's rule: a probe buffer at least 4x the last-level cache. This machine's L3 reports
// 480 MiB, so 2 GiB measures DRAM.
inline constexpr int64_t kDramProbeBytes = int64_t{2} << 30;

// Streams a buffer of `bytes` with `threads` threads (contiguous slices, one per thread; 256-bit
// loads with software prefetch where the CPU has AVX2, as the matmul kernels read weights) and
// returns the best of a few passes in GB/s (1e9 bytes per second). With a buffer that fits in
// the caches this is the bandwidth of that working set (e.g. a model's weights), not of DRAM.
// REQUIRES: threads >= 1, bytes >= 1 MiB. Takes about a second for the DRAM probe.
double MeasureReadBandwidthGBs(int threads, int64_t bytes = kDramProbeBytes);

}  // namespace hearth::bench
