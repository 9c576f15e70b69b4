#include "engine/cuda/moe_plan.h"

#include "engine/cpu/moe.h"

namespace hearth::engine::cuda {

void BuildMoePlan(const float* logits, int64_t n, int32_t top_k, bool normalize,
                  absl::Span<const int64_t> expert_ffn, MoePlan* plan) {
  const int32_t num_experts = static_cast<int32_t>(expert_ffn.size());
  const int64_t routes = n * top_k;
  plan->n = n;
  plan->top_k = top_k;
  plan->experts.resize(routes);
  plan->weights.resize(routes);
  cpu::RouteTopK(logits, n, num_experts, cpu::RoutingRule{top_k, normalize}, plan->experts.data(),
                 plan->weights.data());
  cpu::ExpertGroups groups;
  cpu::GroupByExpert(plan->experts.data(), routes, num_experts, &groups);

  plan->gather.resize(routes);
  plan->slots.resize(routes);
  for (int64_t i = 0; i < routes; ++i) {
    const int32_t route = groups.routes[i];
    plan->gather[i] = route / top_k;
    plan->slots[route] = static_cast<int32_t>(i);
  }
  plan->runs.clear();
  plan->gu_floats = plan->h_floats = 0;
  for (int32_t e = 0; e < num_experts; ++e) {
    const int32_t rows = groups.offsets[e + 1] - groups.offsets[e];
    if (rows == 0) continue;
    plan->runs.push_back({e, rows, groups.offsets[e], plan->gu_floats, plan->h_floats});
    plan->gu_floats += int64_t{rows} * 2 * expert_ffn[e];
    plan->h_floats += int64_t{rows} * expert_ffn[e];
  }
}

}  // namespace hearth::engine::cuda
