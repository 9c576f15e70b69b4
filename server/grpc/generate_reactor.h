// One streaming Generate call.
//
//   gRPC thread:   constructor parses (wire.h) and validates the request, submits it to the
//                  engine (or Finishes with the error)
//   engine thread: OnOutput() turns each delta into a response and queues it; never blocks
//   gRPC threads:  OnWriteDone() writes the next queued response; OnCancel() aborts the
//                  request in the engine (client cancel or deadline); OnDone() releases gRPC's
//                  reference.
//
// Consecutive deltas of one sample that queue up behind a write in flight are merged into one
// message. Finish is called once every sample's final output has been written (OK, or the
// engine's error), or at once when the call is cancelled (CANCELLED / DEADLINE_EXCEEDED), or
// after a server abort (UNAVAILABLE "server shutting down").
//
// Back-pressure: the bytes queued for a client that does not read (messages waiting behind
// the write in flight, which gRPC's flow control holds) are bounded by the service's stream
// buffer limit. Past it the request is aborted in the engine (its KV blocks freed, no more
// tokens computed for it), the queue is dropped, and the call ends with RESOURCE_EXHAUSTED
// "client is not reading its stream" once the write in flight completes (when the client
// reads again, cancels, or its deadline or connection ends).
//
// A cancel that arrives within kDeadlineSlack of the call's deadline counts as
// DEADLINE_EXCEEDED: the client's own deadline fires a little before the server's (the
// server's starts when the headers arrive) and the client then cancels the stream.
//
// Lifetime: the object deletes itself when both gRPC (OnDone) and the engine (all n samples'
// final outputs) are done with it; the engine always delivers a final output per sample, on
// abort and on its destruction too.
// Thread-safety: internal mutex; see the thread of each method above.
#pragma once

#include <grpcpp/support/byte_buffer.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/request.h"
#include "hearth/v1/hearth.grpc.pb.h"

namespace hearth::server {

class HearthService;

class GenerateReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  static constexpr std::chrono::milliseconds kDeadlineSlack{500};

  GenerateReactor(HearthService* service, grpc::CallbackServerContext* context,
                  const grpc::ByteBuffer* raw_request);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // Server shutdown: end the request now (called by HearthService::AbortAll).
  void AbortForShutdown();

 private:
  struct Queued {
    v1::GenerateResponse message;
    int64_t bytes = 0;  // serialized size (sum of the merged deltas' sizes)
  };

  ~GenerateReactor() override;

  void OnOutput(engine::RequestOutput out);  // engine thread
  // Starts the next write or Finishes when due. Returns the engine request to abort (0: none).
  // REQUIRES: mu_ held.
  uint64_t PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Both sides released? REQUIRES: mu_ held.
  bool ReleasableLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The engine request id to abort now, or 0 when it is finished or was never submitted.
  uint64_t AbortIdLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  HearthService* const service_;
  grpc::CallbackServerContext* const context_;
  std::string request_id_;  // the client's, echoed; set in the constructor
  int32_t num_samples_ = 1;

  absl::Mutex mu_;
  bool submitted_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t engine_id_ ABSL_GUARDED_BY(mu_) = 0;
  int32_t finals_ ABSL_GUARDED_BY(mu_) = 0;             // samples whose final output arrived
  absl::Status error_ ABSL_GUARDED_BY(mu_);             // first failed sample's status
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);       // front is in flight if writing_
  int64_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;       // over queue_, the one in flight included
  grpc::ByteBuffer write_buffer_ ABSL_GUARDED_BY(mu_);  // queue_.front(), serialized
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool overflow_ ABSL_GUARDED_BY(mu_) = false;  // the stream buffer limit was passed
  bool shutdown_abort_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;  // OnDone ran
};

}  // namespace hearth::server
