#include "server/cli/bench/workload.h"

#include <random>

namespace hearth::server::cli {

std::vector<WorkItem> MakeWorkload(const WorkloadSpec& spec) {
  std::mt19937_64 rng(spec.seed);
  std::uniform_int_distribution<int32_t> prompt_len(spec.prompt_len_min, spec.prompt_len_max);
  std::uniform_int_distribution<int32_t> output_len(spec.output_len_min, spec.output_len_max);
  std::uniform_int_distribution<int32_t> token(spec.token_min, spec.token_max);
  std::exponential_distribution<double> gap(spec.rate > 0 ? spec.rate : 1.0);
  std::vector<WorkItem> items(spec.num_requests);
  double t = 0;
  for (int32_t i = 0; i < spec.num_requests; ++i) {
    WorkItem& w = items[i];
    w.index = i;
    w.prompt.resize(prompt_len(rng));
    for (int32_t& id : w.prompt) id = token(rng);
    w.max_tokens = output_len(rng);
    if (spec.rate > 0) {
      t += gap(rng);
      w.arrival_seconds = t;
    }
  }
  return items;
}

}  // namespace hearth::server::cli
