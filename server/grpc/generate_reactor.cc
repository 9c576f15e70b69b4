#include "server/grpc/generate_reactor.h"

#include <chrono>
#include <string>
#include <utility>

#include "server/grpc/hearth_service.h"
#include "server/grpc/request_builder.h"
#include "server/grpc/status_mapping.h"

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
                                 const v1::GenerateRequest* request)
    : service_(service), context_(context), request_id_(request->request_id()) {
  if (!service_->Register(this)) {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
    return;
  }
  auto built = BuildEngineRequest(*request, service_->model_);
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

void GenerateReactor::OnOutput(engine::RequestOutput out) {
  bool release = false;
  {
    absl::MutexLock lock(&mu_);
    const bool final = out.final();
    if (!out.status.ok()) {
      if (error_.ok()) error_ = out.status;
    } else if (!cancelled_ && !finish_called_) {
      v1::GenerateResponse response;
      ToGenerateResponse(out, request_id_, service_->engine_.tokenizer(), &response);
      // Merge into the last queued message of the same sample unless it is the one in flight.
      const bool can_merge = !queue_.empty() && (queue_.size() > 1 || !writing_) &&
                             queue_.back().index() == response.index() &&
                             queue_.back().finish_reason() == v1::FINISH_REASON_UNSPECIFIED;
      if (can_merge) {
        Merge(queue_.back(), std::move(response));
      } else {
        queue_.push_back(std::move(response));
      }
    }
    if (final) ++finals_;
    PumpLocked();
    release = ReleasableLocked();
  }
  if (release) {
    service_->Unregister(this);
    delete this;
  }
}

void GenerateReactor::PumpLocked() {
  if (finish_called_ || writing_) return;
  if (cancelled_) {
    const bool deadline = context_->deadline() <= std::chrono::system_clock::now();
    FinishLocked(deadline ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded")
                          : grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
    return;
  }
  if (!queue_.empty()) {
    writing_ = true;
    StartWrite(&queue_.front());
    return;
  }
  if (finals_ < num_samples_) return;
  if (shutdown_abort_) {
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
  } else {
    FinishLocked(ToGrpcStatus(error_));
  }
}

void GenerateReactor::FinishLocked(const grpc::Status& status) {
  if (finish_called_) return;
  finish_called_ = true;
  queue_.clear();
  if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
    // The waiting queue is full: tell the client when to come back. gRPC clients with a retry
    // policy for RESOURCE_EXHAUSTED honor this key natively (gRFC A6 server pushback).
    context_->AddTrailingMetadata(kRetryPushbackKey, std::to_string(kRetryPushbackMs));
  }
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
    queue_.pop_front();
    if (!ok && !cancelled_) {
      // The stream broke (client gone): stop generating.
      cancelled_ = true;
      if (submitted_ && finals_ < num_samples_) abort_id = engine_id_;
    }
    PumpLocked();
  }
  if (abort_id != 0) service_->engine_.Abort(abort_id);
}

void GenerateReactor::OnCancel() {
  uint64_t abort_id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (!cancelled_ && submitted_ && finals_ < num_samples_) abort_id = engine_id_;
    cancelled_ = true;
    PumpLocked();
  }
  if (abort_id != 0) service_->engine_.Abort(abort_id);
}

void GenerateReactor::AbortForShutdown() {
  uint64_t abort_id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (submitted_ && finals_ < num_samples_ && !shutdown_abort_) {
      shutdown_abort_ = true;
      abort_id = engine_id_;
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
