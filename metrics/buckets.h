// Bucket bound sets for Registry::AddHistogram, including the LLM-serving sets vLLM exposes
// (time to first token, inter-token latency, end-to-end latency, token counts). Every result is
// strictly increasing and finite (the +Inf bucket is implicit). Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

namespace hearth::metrics {

// start, start + width, ..., `count` bounds. REQUIRES: width > 0, count >= 0.
std::vector<double> LinearBuckets(double start, double width, int count);
// start, start * factor, ..., `count` bounds. REQUIRES: start > 0, factor > 1, count >= 0.
std::vector<double> ExponentialBuckets(double start, double factor, int count);
// 1, 2, 5, 10, 20, 50, ... up to and including `max_value` (vLLM's build_1_2_5_buckets); for
// token counts such as prompt and generation lengths. Empty when max_value < 1.
std::vector<double> OneTwoFiveBuckets(uint64_t max_value);

// Seconds. Time to first token: 1 ms .. 1920 s.
std::vector<double> TimeToFirstTokenBuckets();
// Seconds. Inter-token latency (time per output token): 1 ms .. 10 s.
std::vector<double> InterTokenLatencyBuckets();
// Seconds. End-to-end request latency (also queue time): 10 ms .. 1 h.
std::vector<double> RequestLatencyBuckets();

}  // namespace hearth::metrics
