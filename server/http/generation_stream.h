// GenerationStream: the HTTP end of the shared streaming path. It owns the OutputChannel of one
// API call (server/request/output_channel.h) and turns what the connection pulls into bytes
// through the protocol's Formatter (OpenAI SSE chunks or JSON, Ollama NDJSON lines or JSON).
//
//   streaming:      head (200, text/event-stream or application/x-ndjson) on the first pull,
//                   then one piece per merged delta, then the closing piece (usage, [DONE]);
//                   an error after the head (engine failure, timeout, shutdown) becomes the
//                   protocol's in-stream error piece.
//   non-streaming:  nothing until every sample finished, then the whole body with its status
//                   (200, or the error's status and shape).
//
// Cancel(kDisconnected) and Cancel(kTimeout) abort the engine requests (their KV blocks are
// freed at the next engine step); a timeout ends the response with a DEADLINE_EXCEEDED error
// (504), a shutdown with UNAVAILABLE (503).
//
// Thread-safety: all methods are thread-safe (one mutex); the formatter is only used under it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/request.h"
#include "server/http/http_message.h"
#include "server/request/output_channel.h"

namespace hearth::server::http {

// One protocol's rendering of a generation. Called under the stream's lock, one at a time.
class Formatter {
 public:
  virtual ~Formatter() = default;
  virtual bool streaming() const = 0;
  virtual std::string content_type() const = 0;
  // One merged delta of one sample (OK status). Streaming: append its piece to `out`;
  // non-streaming: accumulate.
  virtual void OnDelta(const engine::RequestOutput& delta, std::string* out) = 0;
  // Every sample finished without error: the closing pieces / the whole body.
  virtual void OnEnd(std::string* out) = 0;
  // The call failed (`status` not OK). Streaming (head already sent): append the in-stream error
  // piece. Non-streaming: the error body (its HTTP status comes from ToHttpStatus).
  virtual void OnError(const absl::Status& status, std::string* out) = 0;
};

class GenerationStream final : public ResponseStream {
 public:
  // Called once when the call ends (from Pull or Cancel): OK, or the error the client saw
  // (a disconnect reports CANCELLED). For metrics and draining.
  using OnFinished = std::function<void(const absl::Status&)>;

  explicit GenerationStream(std::unique_ptr<Formatter> formatter);
  // Aborts the requests when dropped before its end (the connection went away).
  ~GenerationStream() override;

  // Attaches the channel, whose wake must call Wake() on this object. REQUIRES: called once,
  // before submitting through the channel.
  void Attach(std::shared_ptr<OutputChannel> channel);
  // Set once every request is submitted (not for a call that failed to start).
  void SetOnFinished(OnFinished on_finished);
  // The channel's wake target: forwards to the connection's wake (any thread).
  void Wake();
  // Server shutdown: abort the requests and end with UNAVAILABLE "server shutting down".
  void AbortForShutdown();

  void SetWake(std::function<void()> wake) override;
  Pulled Pull() override;
  void Cancel(CancelReason reason) override;

 private:
  void FinishLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::unique_ptr<Formatter> formatter_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<OutputChannel> channel_ ABSL_GUARDED_BY(mu_);
  std::function<void()> wake_ ABSL_GUARDED_BY(mu_);
  bool head_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);   // first failed sample
  absl::Status cancel_ ABSL_GUARDED_BY(mu_);  // timeout / shutdown
  OnFinished on_finished_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hearth::server::http
