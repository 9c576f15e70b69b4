#include "server/request/output_channel.h"

#include <utility>

#include "absl/strings/str_cat.h"

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

// About what `out` costs queued (and on the wire): its text, 4 bytes per token id, 16 per
// logprob (id, value and the token's text, which the protocols send with each alternative).
int64_t ApproxBytes(const engine::RequestOutput& out) {
  int64_t bytes = static_cast<int64_t>(out.text.size() + 4 * out.token_ids.size());
  for (const auto& lp : out.logprobs) {
    bytes += 16 * static_cast<int64_t>(1 + lp.top_logprobs.size());
  }
  return bytes;
}

}  // namespace

std::shared_ptr<OutputChannel> OutputChannel::Create(Wake wake, FinalObserver on_final,
                                                     int64_t max_buffered_bytes) {
  return std::shared_ptr<OutputChannel>(
      new OutputChannel(std::move(wake), std::move(on_final), max_buffered_bytes));
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
  bool abort = false;
  {
    absl::MutexLock lock(&mu_);
    if (!id.ok()) {
      expected_ -= n;
      return id.status();
    }
    request_ids_.push_back(*id);
    abort = overflow_;  // its first outputs overflowed before Submit returned
  }
  if (abort) engine.Abort(*id);
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
  std::vector<uint64_t> abort_ids;
  engine::Engine* engine = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (final) ++finals_;
    if (overflow_) {
      // The client was given up on: what the aborted samples still deliver is dropped.
    } else {
      queued_bytes_ += ApproxBytes(out);
      const int32_t sample = out.sample_index;
      bool merged = false;
      for (engine::RequestOutput& queued : queue_) {
        if (queued.sample_index == out.sample_index) {
          Merge(queued, std::move(out));
          merged = true;
          break;
        }
      }
      if (!merged) queue_.push_back(std::move(out));
      if (max_buffered_bytes_ > 0 && queued_bytes_ > max_buffered_bytes_) {
        overflow_ = true;
        queue_.clear();
        queued_bytes_ = 0;
        engine::RequestOutput error;
        error.sample_index = sample;
        error.status = absl::ResourceExhaustedError(absl::StrCat(
            "client is not reading its stream: more than max_stream_buffer_bytes (",
            max_buffered_bytes_, ") of output queued for it; the request was aborted"));
        queue_.push_back(std::move(error));
        if (finals_ < expected_) {
          abort_ids = request_ids_;
          engine = engine_;
        }
      }
    }
  }
  // Engine::Abort only queues the id: safe on the engine thread, outside our lock.
  for (uint64_t id : abort_ids) engine->Abort(id);
  if (wake_) wake_(final);
}

std::vector<engine::RequestOutput> OutputChannel::Take() {
  absl::MutexLock lock(&mu_);
  std::vector<engine::RequestOutput> out;
  out.swap(queue_);
  queued_bytes_ = 0;
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

void OutputChannel::Hold(std::shared_ptr<const void> keep) {
  absl::MutexLock lock(&mu_);
  held_.push_back(std::move(keep));
}

}  // namespace hearth::server
