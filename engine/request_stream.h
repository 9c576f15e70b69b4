// A blocking, thread-safe queue of one request's outputs: the simple consumer of
// Engine::Submit for callers that want to pull (tests, the CLI, offline generation).
#pragma once

#include <deque>

#include "absl/synchronization/mutex.h"
#include "engine/request.h"

namespace hearth::engine {

class RequestStream {
 public:
  // `num_samples` final outputs end the stream.
  explicit RequestStream(int32_t num_samples) : samples_left_(num_samples) {}

  // Producer side (the engine thread): the callback to give Engine::Submit.
  void Push(RequestOutput output);

  // Blocks for the next output. False once every sample's final output has been taken.
  bool Next(RequestOutput* out);

  uint64_t request_id() const { return request_id_; }
  void set_request_id(uint64_t id) { request_id_ = id; }

 private:
  absl::Mutex mu_;
  std::deque<RequestOutput> queue_ ABSL_GUARDED_BY(mu_);
  int32_t samples_left_ ABSL_GUARDED_BY(mu_);
  uint64_t request_id_ = 0;
};

}  // namespace hearth::engine
