// One streaming Generate call.
//
//   gRPC thread:   constructor validates, submits to the engine (or Finishes with the error)
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
// Lifetime: the object deletes itself when both gRPC (OnDone) and the engine (all n samples'
// final outputs) are done with it; the engine always delivers a final output per sample, on
// abort and on its destruction too.
// Thread-safety: internal mutex; see the thread of each method above.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/request.h"
#include "hearth/v1/hearth.grpc.pb.h"

namespace hearth::server {

class HearthService;

// Trailing metadata of a Generate refused with RESOURCE_EXHAUSTED (waiting queue full): retry
// after this many milliseconds. A fixed hint: the queue frees a place when a running request
// finishes, which at interactive lengths takes on the order of a second.
inline constexpr char kRetryPushbackKey[] = "grpc-retry-pushback-ms";
inline constexpr int kRetryPushbackMs = 1000;

class GenerateReactor final : public grpc::ServerWriteReactor<v1::GenerateResponse> {
 public:
  GenerateReactor(HearthService* service, grpc::CallbackServerContext* context,
                  const v1::GenerateRequest* request);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // Server shutdown: end the request now (called by HearthService::AbortAll).
  void AbortForShutdown();

 private:
  ~GenerateReactor() override;

  void OnOutput(engine::RequestOutput out);  // engine thread
  // Starts the next write or Finishes when due. REQUIRES: mu_ held.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Both sides released? REQUIRES: mu_ held.
  bool ReleasableLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  HearthService* const service_;
  grpc::CallbackServerContext* const context_;
  const std::string request_id_;  // the client's, echoed
  int32_t num_samples_ = 1;

  absl::Mutex mu_;
  bool submitted_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t engine_id_ ABSL_GUARDED_BY(mu_) = 0;
  int32_t finals_ ABSL_GUARDED_BY(mu_) = 0;  // samples whose final output arrived
  absl::Status error_ ABSL_GUARDED_BY(mu_);  // first failed sample's status
  std::deque<v1::GenerateResponse> queue_ ABSL_GUARDED_BY(mu_);  // front is in flight if writing_
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_abort_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;  // OnDone ran
};

}  // namespace hearth::server
