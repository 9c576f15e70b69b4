#include "server/request/output_channel.h"

#include <utility>

namespace hearth::server {
namespace {

// Appends `next` (a later delta of the same sample) to `into`.
void Merge(engine::RequestOutput& into, engine::RequestOutput&& next) {
  into.token_ids.insert(into.token_ids.end(), next.token_ids.begin(), next.token_ids.end());
  into.text += next.text;
  for (auto& lp : next.logprobs) into.logprobs.push_back(std::move(lp));
  into.finish = std::move(next.finish);
  if (!next.status.ok()) into.status = std::move(next.status);
  into.usage = next.usage;
}

}  // namespace

std::shared_ptr<OutputChannel> OutputChannel::Create(Wake wake, FinalObserver on_final) {
  return std::shared_ptr<OutputChannel>(new OutputChannel(std::move(wake), std::move(on_final)));
}

absl::Status OutputChannel::Submit(engine::Engine& engine, engine::Request request,
                                   int32_t index_base) {
  const int32_t n = request.params.n;
  {
    absl::MutexLock lock(&mu_);
    engine_ = &engine;
    expected_ += n;  // before Submit: outputs may arrive before it returns
  }
  auto id = engine.Submit(std::move(request),
                          [self = shared_from_this(), index_base](engine::RequestOutput out) {
                            self->Push(std::move(out), index_base);
                          });
  absl::MutexLock lock(&mu_);
  if (!id.ok()) {
    expected_ -= n;
    return id.status();
  }
  request_ids_.push_back(*id);
  return absl::OkStatus();
}

void OutputChannel::Abort() {
  std::vector<uint64_t> ids;
  engine::Engine* engine = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (finals_ >= expected_) return;
    ids = request_ids_;
    engine = engine_;
  }
  for (uint64_t id : ids) engine->Abort(id);
}

void OutputChannel::Push(engine::RequestOutput out, int32_t index_base) {
  out.sample_index += index_base;
  const bool final = out.final();
  if (final && on_final_) on_final_(out);
  {
    absl::MutexLock lock(&mu_);
    if (final) ++finals_;
    bool merged = false;
    for (engine::RequestOutput& queued : queue_) {
      if (queued.sample_index == out.sample_index) {
        Merge(queued, std::move(out));
        merged = true;
        break;
      }
    }
    if (!merged) queue_.push_back(std::move(out));
  }
  if (wake_) wake_(final);
}

std::vector<engine::RequestOutput> OutputChannel::Take() {
  absl::MutexLock lock(&mu_);
  std::vector<engine::RequestOutput> out;
  out.swap(queue_);
  return out;
}

bool OutputChannel::finished() const {
  absl::MutexLock lock(&mu_);
  return finals_ >= expected_;
}

int32_t OutputChannel::num_samples() const {
  absl::MutexLock lock(&mu_);
  return expected_;
}

}  // namespace hearth::server
