#include "engine/request_stream.h"

namespace hearth::engine {

void RequestStream::Push(RequestOutput output) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(output));
}

bool RequestStream::Next(RequestOutput* out) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || samples_left_ == 0;
  };
  mu_.Await(absl::Condition(&ready));
  if (queue_.empty()) return false;
  *out = std::move(queue_.front());
  queue_.pop_front();
  if (out->final()) --samples_left_;
  return true;
}

}  // namespace hearth::engine
