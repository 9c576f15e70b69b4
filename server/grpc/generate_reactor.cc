#include "server/grpc/generate_reactor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/grpc/hearth_service.h"
#include "server/grpc/request_builder.h"
#include "server/grpc/status_mapping.h"
#include "server/grpc/wire.h"

namespace hearth::server {
namespace {

// Appends `next` (a later delta of the same sample) to `into`.
void Merge(v1::GenerateResponse& into, v1::GenerateResponse&& next) {
  into.mutable_token_ids()->MergeFrom(next.token_ids());
  into.mutable_text()->append(next.text());
  for (auto& lp : *next.mutable_logprobs()) *into.add_logprobs() = std::move(lp);
  into.set_finish_reason(next.finish_reason());
  into.set_stop_reason(next.stop_reason());
  if (next.has_usage()) *into.mutable_usage() = next.usage();
}

}  // namespace

GenerateReactor::GenerateReactor(HearthService* service, grpc::CallbackServerContext* context,
                                 const grpc::ByteBuffer* raw_request)
    : service_(service), context_(context) {
  if (!service_->Register(this)) {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
    return;
  }
  v1::GenerateRequest request;
  if (absl::Status parsed = ParseRequest(*raw_request, &request); !parsed.ok()) {
    absl::MutexLock lock(&mu_);
    FinishLocked(ToGrpcStatus(parsed));
    return;
  }
  request_id_ = request.request_id();
  auto built = BuildEngineRequest(request, service_->model_);
  if (!built.ok()) {
    absl::MutexLock lock(&mu_);
    FinishLocked(ToGrpcStatus(built.status()));
    return;
  }
  num_samples_ = built->params.n;
  // Outputs may arrive (on the engine thread) before Submit returns: OnOutput only needs mu_.
  auto id = service_->engine_.Submit(
      *std::move(built), [this](engine::RequestOutput out) { OnOutput(std::move(out)); });
  absl::MutexLock lock(&mu_);
  if (!id.ok()) {
    FinishLocked(ToGrpcStatus(id.status()));
    return;
  }
  submitted_ = true;
  engine_id_ = *id;
}

GenerateReactor::~GenerateReactor() = default;

uint64_t GenerateReactor::AbortIdLocked() const {
  return submitted_ && finals_ < num_samples_ ? engine_id_ : 0;
}

void GenerateReactor::OnOutput(engine::RequestOutput out) {
  bool release = false;
  uint64_t abort_id = 0;
  {
    absl::MutexLock lock(&mu_);
    const bool final = out.final();
    if (final) ++finals_;
    if (!out.status.ok()) {
      if (error_.ok()) error_ = out.status;
    } else if (!cancelled_ && !finish_called_ && !overflow_) {
      Queued next;
      ToGenerateResponse(out, request_id_, service_->engine_.tokenizer(), &next.message);
      next.bytes = static_cast<int64_t>(next.message.ByteSizeLong());
      queued_bytes_ += next.bytes;
      // Merge into the last queued message of the same sample unless it is the one in flight.
      const bool can_merge = !queue_.empty() && (queue_.size() > 1 || !writing_) &&
                             queue_.back().message.index() == next.message.index() &&
                             queue_.back().message.finish_reason() == v1::FINISH_REASON_UNSPECIFIED;
      if (can_merge) {
        Merge(queue_.back().message, std::move(next.message));
        queue_.back().bytes += next.bytes;
      } else {
        queue_.push_back(std::move(next));
      }
      if (queued_bytes_ > service_->max_stream_buffer_bytes_) {
        // The client is not reading: stop generating for it and drop what it has not taken.
        overflow_ = true;
        abort_id = AbortIdLocked();
        while (queue_.size() > (writing_ ? 1u : 0u)) {
          queued_bytes_ -= queue_.back().bytes;
          queue_.pop_back();
        }
      }
    }
    if (const uint64_t id = PumpLocked(); id != 0) abort_id = id;
    release = ReleasableLocked();
  }
  if (abort_id != 0) service_->engine_.Abort(abort_id);
  if (release) {
    service_->Unregister(this);
    delete this;
  }
}

uint64_t GenerateReactor::PumpLocked() {
  if (finish_called_ || writing_) return 0;
  if (cancelled_) {
    const auto deadline = context_->deadline();
    const bool expired = deadline != std::chrono::system_clock::time_point::max() &&
                         deadline - std::chrono::system_clock::now() <= kDeadlineSlack;
    FinishLocked(expired ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded")
                         : grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
    return 0;
  }
  if (overflow_) {
    FinishLocked(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("client is not reading its stream: more than max_stream_buffer_bytes (",
                     service_->max_stream_buffer_bytes_,
                     ") of output queued for it; the request was aborted")));
    return 0;
  }
  if (!queue_.empty()) {
    if (absl::Status st = SerializeResponse(queue_.front().message, &write_buffer_); !st.ok()) {
      const uint64_t abort_id = AbortIdLocked();
      FinishLocked(ToGrpcStatus(st));
      return abort_id;
    }
    writing_ = true;
    StartWrite(&write_buffer_);
    return 0;
  }
  if (finals_ < num_samples_) return 0;
  if (shutdown_abort_) {
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
  } else {
    FinishLocked(ToGrpcStatus(error_));
  }
  return 0;
}

void GenerateReactor::FinishLocked(const grpc::Status& status) {
  if (finish_called_) return;
  finish_called_ = true;
  queue_.clear();
  queued_bytes_ = 0;
  if (!status.ok() && service_->on_generate_failure_) {
    service_->on_generate_failure_(status.error_code());
  }
  Finish(status);
}

void GenerateReactor::OnWriteDone(bool ok) {
  uint64_t abort_id = 0;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    write_buffer_.Clear();
    if (!queue_.empty()) {
      queued_bytes_ -= queue_.front().bytes;
      queue_.pop_front();
    }
    if (!ok && !cancelled_) {
      // The stream broke (client gone): stop generating.
      cancelled_ = true;
      abort_id = AbortIdLocked();
    }
    if (const uint64_t id = PumpLocked(); id != 0) abort_id = id;
  }
  if (abort_id != 0) service_->engine_.Abort(abort_id);
}

void GenerateReactor::OnCancel() {
  uint64_t abort_id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (!cancelled_) abort_id = AbortIdLocked();
    cancelled_ = true;
    if (const uint64_t id = PumpLocked(); id != 0) abort_id = id;
  }
  if (abort_id != 0) service_->engine_.Abort(abort_id);
}

void GenerateReactor::AbortForShutdown() {
  uint64_t abort_id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (!shutdown_abort_) {
      abort_id = AbortIdLocked();
      shutdown_abort_ = abort_id != 0;
    }
  }
  if (abort_id != 0) service_->engine_.Abort(abort_id);
}

void GenerateReactor::OnDone() {
  bool release = false;
  {
    absl::MutexLock lock(&mu_);
    done_ = true;
    release = ReleasableLocked();
  }
  if (release) {
    service_->Unregister(this);
    delete this;
  }
}

bool GenerateReactor::ReleasableLocked() const {
  return done_ && (!submitted_ || finals_ >= num_samples_);
}

}  // namespace hearth::server
