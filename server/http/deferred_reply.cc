#include "server/http/deferred_reply.h"

#include <thread>
#include <utility>

namespace hearth::server::http {

std::shared_ptr<DeferredReply> DeferredReply::Start(std::function<Reply()> work,
                                                    std::function<void()> done) {
  std::shared_ptr<DeferredReply> reply(new DeferredReply());
  std::thread([reply, work = std::move(work), done = std::move(done)] {
    reply->Resolve(work());
    if (done) done();
  }).detach();
  return reply;
}

void DeferredReply::Resolve(Reply reply) {
  std::function<void()> wake;
  std::shared_ptr<ResponseStream> cancel_now;
  CancelReason reason = CancelReason::kDisconnected;
  {
    absl::MutexLock lock(&mu_);
    reply_ = std::move(reply);
    wake = wake_;
    if (cancel_.has_value() && std::holds_alternative<std::shared_ptr<ResponseStream>>(*reply_)) {
      cancel_now = std::get<std::shared_ptr<ResponseStream>>(*reply_);
      reason = *cancel_;
    }
  }
  if (cancel_now) cancel_now->Cancel(reason);
  if (wake) wake();
}

void DeferredReply::SetWake(std::function<void()> wake) {
  bool ready = false;
  {
    absl::MutexLock lock(&mu_);
    wake_ = wake;
    ready = reply_.has_value();
  }
  if (ready) wake();
}

Pulled DeferredReply::Pull() {
  std::shared_ptr<ResponseStream> inner;
  std::function<void()> wake;
  {
    absl::MutexLock lock(&mu_);
    if (!reply_.has_value()) return {};
    if (auto* response = std::get_if<HttpResponse>(&*reply_)) {
      Pulled p;
      p.head = ResponseHead{response->status, response->content_type, /*chunked=*/false};
      p.body = std::move(response->body);
      p.done = true;
      return p;
    }
    inner = std::get<std::shared_ptr<ResponseStream>>(*reply_);
    if (!inner_started_) {
      inner_started_ = true;
      wake = wake_;
    }
  }
  if (wake) {
    // The inner stream may wake at once: the connection pulls again (through this object).
    inner->SetWake(std::move(wake));
  }
  return inner->Pull();
}

void DeferredReply::Cancel(CancelReason reason) {
  std::shared_ptr<ResponseStream> inner;
  {
    absl::MutexLock lock(&mu_);
    if (!reply_.has_value()) {
      cancel_ = reason;
      return;
    }
    if (auto* stream = std::get_if<std::shared_ptr<ResponseStream>>(&*reply_)) inner = *stream;
  }
  if (inner) inner->Cancel(reason);
}

}  // namespace hearth::server::http
