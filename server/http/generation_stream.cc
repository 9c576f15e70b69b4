#include "server/http/generation_stream.h"

#include <utility>
#include <vector>

#include "server/grpc/status_mapping.h"

namespace hearth::server::http {

GenerationStream::GenerationStream(std::unique_ptr<Formatter> formatter)
    : formatter_(std::move(formatter)) {}

void GenerationStream::SetOnFinished(OnFinished on_finished) {
  absl::MutexLock lock(&mu_);
  on_finished_ = std::move(on_finished);
}

GenerationStream::~GenerationStream() {
  absl::MutexLock lock(&mu_);
  if (!done_) {
    // Dropped before its end (connection closed): the requests must not run on.
    if (channel_ != nullptr) channel_->Abort();
    FinishLocked(absl::CancelledError("the client disconnected"));
  }
}

void GenerationStream::Attach(std::shared_ptr<OutputChannel> channel) {
  absl::MutexLock lock(&mu_);
  channel_ = std::move(channel);
}

void GenerationStream::SetWake(std::function<void()> wake) {
  {
    absl::MutexLock lock(&mu_);
    wake_ = std::move(wake);
  }
  Wake();
}

void GenerationStream::Wake() {
  std::function<void()> wake;
  {
    absl::MutexLock lock(&mu_);
    wake = wake_;
  }
  if (wake) wake();
}

void GenerationStream::FinishLocked(const absl::Status& status) {
  done_ = true;
  if (on_finished_) {
    OnFinished callback = std::move(on_finished_);
    on_finished_ = nullptr;
    callback(status);
  }
}

Pulled GenerationStream::Pull() {
  absl::MutexLock lock(&mu_);
  Pulled p;
  if (done_) {
    p.done = true;
    return p;
  }
  const bool streaming = formatter_->streaming();
  if (streaming && !head_sent_) {
    p.head = ResponseHead{200, formatter_->content_type(), /*chunked=*/true};
    head_sent_ = true;
  }
  for (engine::RequestOutput& out : channel_->Take()) {
    if (!out.status.ok()) {
      if (error_.ok()) error_ = out.status;
      continue;
    }
    if (cancel_.ok()) formatter_->OnDelta(out, &p.body);
  }
  if (!channel_->finished()) return p;
  // Every sample is done; outputs pushed between the Take above and finished() are still
  // queued (a final is queued in the same step that counts it): take them too.
  for (engine::RequestOutput& out : channel_->Take()) {
    if (!out.status.ok()) {
      if (error_.ok()) error_ = out.status;
    } else if (cancel_.ok()) {
      formatter_->OnDelta(out, &p.body);
    }
  }
  const absl::Status status = !cancel_.ok() ? cancel_ : error_;
  if (status.ok()) {
    formatter_->OnEnd(&p.body);
    if (!streaming) p.head = ResponseHead{200, formatter_->content_type(), /*chunked=*/false};
  } else if (streaming) {
    formatter_->OnError(status, &p.body);
  } else {
    p.body.clear();
    formatter_->OnError(status, &p.body);
    p.head = ResponseHead{ToHttpStatus(status.code()), "application/json", /*chunked=*/false};
  }
  p.done = true;
  FinishLocked(status);
  return p;
}

void GenerationStream::Cancel(CancelReason reason) {
  std::shared_ptr<OutputChannel> channel;
  {
    absl::MutexLock lock(&mu_);
    if (done_) return;
    channel = channel_;
    switch (reason) {
      case CancelReason::kDisconnected:
        FinishLocked(absl::CancelledError("the client disconnected"));
        break;
      case CancelReason::kTimeout:
        if (cancel_.ok()) cancel_ = absl::DeadlineExceededError("request timed out");
        break;
      case CancelReason::kShutdown:
        if (cancel_.ok()) cancel_ = absl::UnavailableError("server shutting down");
        break;
    }
  }
  if (channel != nullptr) channel->Abort();
}

void GenerationStream::AbortForShutdown() {
  Cancel(CancelReason::kShutdown);
  Wake();
}

}  // namespace hearth::server::http
