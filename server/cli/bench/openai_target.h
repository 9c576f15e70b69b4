// The OpenAI-compatible HTTP target of `hearth bench-serve --openai URL`: the same request as
// GrpcTarget (the item's prompt as token ids, max_tokens = its output length, ignore_eos, the
// given temperature, seed = its index) sent to POST /v1/completions with "stream": true, read
// as Server-Sent Events. Each chunk's token count comes from vLLM's
// stream_options.continuous_usage_stats (cumulative completion_tokens in every chunk), so the
// two targets are timed the same way.
//
// Thread-safety: Run may be called from many threads at once (one HTTP client per call).
#pragma once

#include <string>

#include "server/cli/bench/runner.h"

namespace hearth::server::cli {

class OpenAiTarget final : public BenchTarget {
 public:
  // `base_url`: "http://HOST:PORT". `deadline_ms` <= 0: none.
  OpenAiTarget(std::string base_url, std::string model, float temperature, int64_t deadline_ms);
  void Run(const WorkItem& item, RequestRecord& record) override;

 private:
  const std::string base_url_;
  const std::string model_;
  const float temperature_;
  const int64_t deadline_ms_;
};

}  // namespace hearth::server::cli
