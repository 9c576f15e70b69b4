// The one streaming path from the engine to every wire protocol.
//
//   engine thread:  the output callback Push()es each delta and calls wake(final), never blocks
//   writer thread:  when it can write, the front end Take()s everything queued (each sample's
//                   deltas merged into one) and formats it for its protocol (a gRPC message,
//                   an OpenAI SSE chunk, an Ollama NDJSON line)
//
// So a slow client costs the engine nothing: deltas queue here and go out merged on the next
// write. A front end Submit()s one or more engine requests through the channel (an OpenAI
// completion with several prompts submits one per prompt; sample i of a request submitted with
// index_base b arrives as index b + i), and Abort()s them when its client goes away.
//
//   auto channel = OutputChannel::Create([this](bool final) { Wake(final); }, observer);
//   RETURN_IF_ERROR(channel->Submit(engine, std::move(request), /*index_base=*/0));
//   ... on wake, when not writing: for (RequestOutput& d : channel->Take()) Write(Format(d));
//   ... done once channel->finished() and nothing is left to take.
//
// Back-pressure: a client that stops reading must not make the server buffer without bound.
// With `max_buffered_bytes` > 0, once the output queued and not yet taken passes it (about the
// text plus 4 bytes per token id and 16 per logprob; the front end's own write in flight is held
// by the transport's flow control), the channel aborts its requests (no more tokens are computed
// and their KV blocks are freed at the next engine step), drops what is queued, and the next
// Take returns one output with status RESOURCE_EXHAUSTED "client is not reading its stream"
// instead: the front end ends the call with that error once its write in flight completes.
// Pausing the sequences instead would hold their KV blocks for as long as the client waits.
//
// Ownership: shared. Every submitted request's engine callback holds a reference, so the channel
// lives until the engine has delivered every final output, however early its owner lets go.
// `wake` must stay callable for as long as the owner holds the channel or a request is
// unfinished (the gRPC reactor keeps itself alive for that; HTTP wakes through a weak pointer).
// Thread-safety: every method is thread-safe. REQUIRES: all Submit calls happen before the owner
// relies on finished().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "engine/request.h"

namespace hearth::server {

class OutputChannel : public std::enable_shared_from_this<OutputChannel> {
 public:
  // Called on the engine thread after every push; `final` is true for a sample's last output.
  using Wake = std::function<void(bool final)>;
  // Sees each sample's final output (usage, finish or error) on the engine thread (metrics).
  using FinalObserver = std::function<void(const engine::RequestOutput&)>;

  // `max_buffered_bytes` bounds what may queue untaken (see above); 0: unbounded.
  static std::shared_ptr<OutputChannel> Create(Wake wake, FinalObserver on_final = nullptr,
                                               int64_t max_buffered_bytes = 0);

  // Submits `request` to `engine` (Engine::Submit's errors pass through; nothing is queued then).
  absl::Status Submit(engine::Engine& engine, engine::Request request, int32_t index_base);
  // Aborts every submitted request (harmless for finished ones). Their final outputs (finish
  // reason abort) still arrive.
  void Abort();

  // Everything queued since the last Take: one output per sample with news, in order of first
  // arrival; a sample's deltas merged (token ids, text and logprobs appended; finish, status and
  // usage from the last). Failed samples come out with their non-OK status, and so does the
  // buffer overflow (see above).
  std::vector<engine::RequestOutput> Take();
  // Every sample of every submitted request has delivered its final output.
  bool finished() const;
  // Samples submitted (the sum of n).
  int32_t num_samples() const;
  // Keeps `keep` alive as long as the channel (a model lease: the model stays loaded until
  // the engine delivered every final output and the front end let go of the channel).
  void Hold(std::shared_ptr<const void> keep);

 private:
  OutputChannel(Wake wake, FinalObserver on_final, int64_t max_buffered_bytes)
      : wake_(std::move(wake)),
        on_final_(std::move(on_final)),
        max_buffered_bytes_(max_buffered_bytes) {}
  void Push(engine::RequestOutput out, int32_t index_base);  // engine thread

  const Wake wake_;
  const FinalObserver on_final_;
  const int64_t max_buffered_bytes_;
  mutable absl::Mutex mu_;
  engine::Engine* engine_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<uint64_t> request_ids_ ABSL_GUARDED_BY(mu_);
  std::vector<engine::RequestOutput> queue_ ABSL_GUARDED_BY(mu_);  // at most one per sample
  int32_t expected_ ABSL_GUARDED_BY(mu_) = 0;
  int32_t finals_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // about, over queue_
  bool overflow_ ABSL_GUARDED_BY(mu_) = false;     // max_buffered_bytes_ was passed
  std::vector<std::shared_ptr<const void>> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hearth::server
