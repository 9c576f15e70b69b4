// One streaming Generate call.
//
//   gRPC thread:   constructor checks the key, parses (wire.h) and validates the request,
//                  submits it through an OutputChannel (the streaming path shared with the HTTP
//                  APIs, server/request/output_channel.h), or Finishes with the error
//   engine thread: the channel queues each delta and wakes the reactor (OnWake), never blocks
//   gRPC threads:  OnWriteDone() writes what queued meanwhile; OnCancel() aborts the request in
//                  the engine (client cancel or deadline); OnDone() releases gRPC's reference.
//
// Deltas of one sample that queue up behind a write in flight go out merged in one message. Finish
// is called once every sample's final output has been written (OK, or the engine's error), or at
// once when the call is cancelled (CANCELLED / DEADLINE_EXCEEDED), or after a server abort
// (UNAVAILABLE "server shutting down").
//
// Back-pressure: the channel bounds the output queued for a client that does not read (the
// service's stream buffer limit, max_stream_buffer_bytes): past it the request is aborted in the
// engine and the call ends with RESOURCE_EXHAUSTED "client is not reading its stream" once the
// write in flight completes (when the client reads again, cancels, or its deadline or
// connection ends).
//
// A cancel that arrives within kDeadlineSlack of the call's deadline counts as
// DEADLINE_EXCEEDED: the client's own deadline fires a little before the server's (the server's
// starts when the headers arrive) and the client then cancels the stream.
//
// A model that must load first is waited for on a worker thread (HearthService::RunDetached),
// never on gRPC's callback thread.
//
// Lifetime: the object deletes itself when gRPC (OnDone), the engine (all n samples' final
// outputs) and a start-up worker are done with it; the engine always delivers a final output per
// sample, on abort and on its destruction too. Thread-safety: internal mutex; see the thread of
// each method above.
#pragma once

#include <grpcpp/support/byte_buffer.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/request.h"
#include "hearth/v1/hearth.grpc.pb.h"
#include "server/request/output_channel.h"
#include "server/request/served_model.h"

namespace hearth::server {

class HearthService;

// Trailing metadata of a Generate refused with RESOURCE_EXHAUSTED (waiting queue full): retry
// after this many milliseconds. A fixed hint: the queue frees a place when a running request
// finishes, which at interactive lengths takes on the order of a second.
inline constexpr char kRetryPushbackKey[] = "grpc-retry-pushback-ms";
inline constexpr int kRetryPushbackMs = 1000;

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
  ~GenerateReactor() override;

  // Resolves the model (may block while it loads) and submits; from the constructor, or from a
  // worker thread when the model must load first (starting_ set meanwhile).
  void Start(const v1::GenerateRequest& request, double arrival);
  void Submit(const v1::GenerateRequest& request, double arrival);
  void OnWake(bool final);  // engine thread
  // Starts the next write or Finishes when due. REQUIRES: mu_ held.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Both sides released? REQUIRES: mu_ held.
  bool ReleasableLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the call with `status`. OnDone counts a failure with the code the client saw: for a
  // call cancelled (by the client, its deadline or its connection) the cancellation, whatever
  // `status` the server sent.
  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // DEADLINE_EXCEEDED when the call's deadline has passed (within kDeadlineSlack), else
  // CANCELLED: how a cancelled call ended for its client.
  grpc::Status CancelledStatus() const;

  HearthService* const service_;
  grpc::CallbackServerContext* const context_;
  std::string request_id_;  // the client's, echoed; set in the constructor
  std::string model_name_;  // the configured name once resolved (metrics)
  int32_t num_samples_ = 1;
  std::shared_ptr<OutputChannel> channel_;
  ModelLease lease_;  // the model the request runs on (set before Submit)

  absl::Mutex mu_;
  bool submitted_ ABSL_GUARDED_BY(mu_) = false;
  bool starting_ ABSL_GUARDED_BY(mu_) = false;       // a worker thread runs Start
  int32_t finals_ ABSL_GUARDED_BY(mu_) = 0;          // samples whose final output arrived
  absl::Status error_ ABSL_GUARDED_BY(mu_);          // first failed sample's status
  grpc::ByteBuffer in_flight_ ABSL_GUARDED_BY(mu_);  // the message being written, serialized
  std::deque<v1::GenerateResponse> queue_ ABSL_GUARDED_BY(mu_);  // taken, not yet written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  grpc::StatusCode finish_code_ ABSL_GUARDED_BY(mu_) = grpc::StatusCode::OK;
  bool shutdown_abort_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;  // OnDone ran
};

}  // namespace hearth::server
