// The synthetic workload of `hearth bench-serve`: seeded random prompts of ordinary token ids,
// uniform prompt and output lengths, and arrival times (all at 0 for the closed loop, Poisson
// for the open loop).
//
// Thread-safety: plain values and a pure function.
#pragma once

#include <cstdint>
#include <vector>

namespace hearth::server::cli {

struct WorkloadSpec {
  int32_t num_requests = 64;
  int32_t prompt_len_min = 64;  // uniform in [min, max]
  int32_t prompt_len_max = 64;
  int32_t output_len_min = 128;  // exact: requests set max_tokens and ignore_eos
  int32_t output_len_max = 128;
  double rate = 0;  // requests/s of the open loop's Poisson arrivals; 0: all arrive at once
  uint64_t seed = 0;
  // Prompt token ids are drawn uniformly from [token_min, token_max] (ordinary tokens, away
  // from the special ids at the bottom of the vocabulary).
  int32_t token_min = 100;
  int32_t token_max = 10000;
};

struct WorkItem {
  int32_t index = 0;
  std::vector<int32_t> prompt;  // [prompt_len]
  int32_t max_tokens = 0;
  double arrival_seconds = 0;  // offset from the start of the run; nondecreasing in index
};

// Deterministic for a given spec.
std::vector<WorkItem> MakeWorkload(const WorkloadSpec& spec);

}  // namespace hearth::server::cli
