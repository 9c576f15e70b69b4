// DeferredReply: an HTTP reply computed off the event loop. A handler that would block (its
// model must be loaded first, server/registry/model_registry.h) answers this stream at once;
// `work` runs on its own thread, and the connection pulls nothing until it is done, then the
// reply it returned: a whole response, or the stream it delegates to from then on.
//
// Cancel before the work is done is remembered and passed to the stream it returns (so a
// client that left aborts its generation at once).
//
// Thread-safety: all methods are thread-safe. Ownership: shared; the worker thread holds a
// reference until it is done.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "server/http/http_message.h"

namespace hearth::server::http {

class DeferredReply final : public ResponseStream,
                            public std::enable_shared_from_this<DeferredReply> {
 public:
  // Starts `work` on a new detached thread; `done` runs on it last (bookkeeping).
  static std::shared_ptr<DeferredReply> Start(std::function<Reply()> work,
                                              std::function<void()> done);

  void SetWake(std::function<void()> wake) override;
  Pulled Pull() override;
  void Cancel(CancelReason reason) override;

 private:
  DeferredReply() = default;
  void Resolve(Reply reply);

  absl::Mutex mu_;
  std::function<void()> wake_ ABSL_GUARDED_BY(mu_);
  std::optional<Reply> reply_ ABSL_GUARDED_BY(mu_);
  bool inner_started_ ABSL_GUARDED_BY(mu_) = false;  // the stream got the wake
  std::optional<CancelReason> cancel_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hearth::server::http
