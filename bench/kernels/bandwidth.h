// Memory read bandwidth of this machine: the roofline that memory-bound decode is judged by.
#pragma once

namespace hearth::bench {

// Streams a buffer much larger than the caches (256 MiB) with `threads` threads (contiguous
// slices, one per thread) and returns the best of a few passes in GB/s (1e9 bytes per second).
// REQUIRES: threads >= 1. Takes about a second.
double MeasureReadBandwidthGBs(int threads);

}  // namespace hearth::bench
