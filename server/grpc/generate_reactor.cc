#include "server/grpc/generate_reactor.h"

#include <chrono>
#include <string>
#include <utility>

#include "server/grpc/hearth_service.h"
#include "server/grpc/request_builder.h"
#include "server/grpc/status_mapping.h"
#include "server/grpc/wire.h"

namespace hearth::server {

GenerateReactor::GenerateReactor(HearthService* service, grpc::CallbackServerContext* context,
                                 const grpc::ByteBuffer* raw_request)
    : service_(service), context_(context) {
  if (!service_->Register(this)) {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
    return;
  }
  if (absl::Status st = service_->CheckAuth(context); !st.ok()) {
    absl::MutexLock lock(&mu_);
    FinishLocked(ToGrpcStatus(st));
    return;
  }
  if (!raw_request->Valid()) {
    // No request message: the client half-closed without one, or cancelled (or its deadline
    // passed) before sending it; gRPC still runs the handler of a ByteBuffer method. OnDone
    // counts the cancelled ones as cancellations.
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "GenerateRequest: the call carried no request message"));
    return;
  }
  v1::GenerateRequest request;
  if (absl::Status parsed = ParseRequest(*raw_request, &request); !parsed.ok()) {
    absl::MutexLock lock(&mu_);
    FinishLocked(ToGrpcStatus(parsed));
    return;
  }
  request_id_ = request.request_id();
  model_name_ = request.model();
  const double arrival = engine::RequestClockSeconds();
  if (service_->models_->NeedsLoad(request.model())) {
    // The model loads first: wait for it on a worker thread, not on gRPC's callback thread
    // (the streams whose end makes room are written by those threads).
    {
      absl::MutexLock lock(&mu_);
      starting_ = true;
    }
    service_->RunDetached(
        [this, request = std::move(request), arrival] { Start(request, arrival); });
    return;
  }
  Start(request, arrival);
}

void GenerateReactor::Start(const v1::GenerateRequest& request, double arrival) {
  // Blocks while a lazily loaded model loads (the load counts as queue time).
  auto lease = service_->Acquire(request.model(), context_);
  {
    absl::MutexLock lock(&mu_);
    if (!lease.ok()) {
      FinishLocked(ToGrpcStatus(lease.status()));
    } else if (!finish_called_) {
      lease_ = *std::move(lease);
      model_name_ = lease_->model.name;
    }
  }
  if (lease_ != nullptr) Submit(request, arrival);
  bool release = false;
  {
    absl::MutexLock lock(&mu_);
    starting_ = false;
    release = ReleasableLocked();
  }
  if (release) {
    service_->Unregister(this);
    delete this;
  }
}

void GenerateReactor::Submit(const v1::GenerateRequest& request, double arrival) {
  auto built = BuildEngineRequest(request, lease_->model);
  if (!built.ok()) {
    absl::MutexLock lock(&mu_);
    FinishLocked(ToGrpcStatus(built.status()));
    return;
  }
  num_samples_ = built->params.n;
  built->arrival_seconds = arrival;
  // Outputs may arrive (on the engine thread) before Submit returns: OnWake only needs mu_.
  OutputChannel::FinalObserver on_final;
  if (service_->on_sample_finished_) {
    on_final = [observer = service_->on_sample_finished_,
                model = model_name_](const engine::RequestOutput& out) { observer(out, model); };
  }
  auto channel = OutputChannel::Create([this](bool final) { OnWake(final); }, std::move(on_final),
                                       service_->max_stream_buffer_bytes_);
  {
    absl::MutexLock lock(&mu_);
    if (finish_called_) return;  // cancelled while its model loaded
    channel_ = std::move(channel);
    submitted_ = true;  // until Submit fails: a final output may arrive before it returns
  }
  channel_->Hold(lease_);
  absl::Status st = channel_->Submit(*lease_->engine, *std::move(built), /*index_base=*/0);
  absl::MutexLock lock(&mu_);
  if (!st.ok()) {
    submitted_ = false;
    if (absl::IsResourceExhausted(st)) {
      // The waiting queue is full: tell the client when to come back. gRPC clients with a retry
      // policy for RESOURCE_EXHAUSTED honor this key natively (gRFC A6 server pushback). Not
      // sent for a stream ended for not reading (that one must not be retried as is).
      context_->AddTrailingMetadata(kRetryPushbackKey, std::to_string(kRetryPushbackMs));
    }
    FinishLocked(ToGrpcStatus(st));
  }
}

GenerateReactor::~GenerateReactor() = default;

void GenerateReactor::OnWake(bool final) {
  bool release = false;
  {
    absl::MutexLock lock(&mu_);
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
    FinishLocked(CancelledStatus());
    return;
  }
  if (queue_.empty() && channel_ != nullptr) {
    for (engine::RequestOutput& out : channel_->Take()) {
      if (!out.status.ok()) {
        if (error_.ok()) error_ = out.status;
        continue;
      }
      ToGenerateResponse(out, request_id_, *lease_->model.tokenizer, &queue_.emplace_back());
    }
  }
  if (!queue_.empty()) {
    absl::Status st = SerializeResponse(queue_.front(), &in_flight_);
    queue_.pop_front();
    if (!st.ok()) {
      const bool abort = submitted_ && finals_ < num_samples_;
      FinishLocked(ToGrpcStatus(st));
      if (abort) channel_->Abort();  // only queues the abort: fine under mu_
      return;
    }
    writing_ = true;
    StartWrite(&in_flight_);
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
  finish_code_ = status.error_code();
  Finish(status);
}

grpc::Status GenerateReactor::CancelledStatus() const {
  const auto deadline = context_->deadline();
  const bool expired = deadline != std::chrono::system_clock::time_point::max() &&
                       deadline - std::chrono::system_clock::now() <= kDeadlineSlack;
  return expired ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded")
                 : grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client");
}

void GenerateReactor::OnWriteDone(bool ok) {
  bool abort = false;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    in_flight_.Clear();
    if (!ok && !cancelled_) {
      // The stream broke (client gone): stop generating.
      cancelled_ = true;
      abort = submitted_ && finals_ < num_samples_;
    }
    PumpLocked();
  }
  if (abort) channel_->Abort();
}

void GenerateReactor::OnCancel() {
  bool abort = false;
  {
    absl::MutexLock lock(&mu_);
    abort = !cancelled_ && submitted_ && finals_ < num_samples_;
    cancelled_ = true;
    PumpLocked();
  }
  if (abort) channel_->Abort();
}

void GenerateReactor::AbortForShutdown() {
  bool abort = false;
  {
    absl::MutexLock lock(&mu_);
    if (submitted_ && finals_ < num_samples_ && !shutdown_abort_) {
      shutdown_abort_ = true;
      abort = true;
    }
  }
  if (abort) channel_->Abort();
}

void GenerateReactor::OnDone() {
  bool release = false;
  {
    absl::MutexLock lock(&mu_);
    done_ = true;
    // Counted now, when it is known whether the status reached the client: a call cancelled
    // first (OnCancel runs before OnDone) ended for its client with the cancellation.
    if (finish_code_ != grpc::StatusCode::OK && service_->on_generate_failure_) {
      service_->on_generate_failure_(cancelled_ ? CancelledStatus().error_code() : finish_code_,
                                     model_name_);
    }
    release = ReleasableLocked();
  }
  if (release) {
    service_->Unregister(this);
    delete this;
  }
}

bool GenerateReactor::ReleasableLocked() const {
  return done_ && !starting_ && (!submitted_ || finals_ >= num_samples_);
}

}  // namespace hearth::server
