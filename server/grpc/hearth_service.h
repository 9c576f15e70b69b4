// The hearth.v1.Hearth service over the served models' engines, with gRPC's callback API. Each
// call's `model` goes through the ModelResolver (server/registry/model_registry.h): "" is the
// default model, an unknown name NOT_FOUND listing the served ones; a lazily loaded model is
// loaded first (the call waits, on its gRPC thread, up to its deadline), and the call holds a
// lease on the model until its last message, so the model is never unloaded under it.
//
// Every method is registered "raw": requests arrive as bytes and are parsed by wire.h, so a
// malformed request or invalid UTF-8 gets INVALID_ARGUMENT naming the problem (gRPC's
// generated handlers would answer UNIMPLEMENTED with no message).
//
//   Generate:  one GenerateReactor per call (generate_reactor.h). The engine's output callback
//              queues deltas in the reactor, which writes them one at a time; the engine thread
//              never blocks on the network. Cancel / deadline -> Engine::Abort.
//   Tokenize, Detokenize, ListModels, ModelInfo: answered inline on the gRPC thread.
//
// Draining (graceful shutdown): StartDraining() makes new Generate/Tokenize/Detokenize calls
// fail with UNAVAILABLE "server shutting down" (ListModels / ModelInfo keep answering);
// WaitIdle() waits for the streams in flight; AbortAll() ends the rest, each with a final
// FINISH_REASON_ABORT message and status UNAVAILABLE "server shutting down".
//
// Ownership: borrows the resolver. Destruction order: grpc::Server shut down and waited, then the
// resolver (its engines' final outputs release the last reactors), then the grpc::Server object,
// then this service.
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "hearth/v1/hearth.grpc.pb.h"
#include "server/grpc/request_builder.h"
#include "server/request/output_channel.h"
#include "server/request/served_model.h"
#include "server/security/api_keys.h"

namespace hearth::server {

class GenerateReactor;

// Every method raw (see above).
using RawHearthService =
    v1::Hearth::WithRawCallbackMethod_Generate<v1::Hearth::WithRawCallbackMethod_Tokenize<
        v1::Hearth::WithRawCallbackMethod_Detokenize<v1::Hearth::WithRawCallbackMethod_ListModels<
            v1::Hearth::WithRawCallbackMethod_ModelInfo<v1::Hearth::Service>>>>>;

class HearthService final : public RawHearthService {
 public:
  // REQUIRES: `models` outlives the service's calls.
  explicit HearthService(const ModelResolver* models);
  ~HearthService() override;

  void StartDraining();
  bool draining() const;
  // True once no Generate stream is in flight; false when `timeout` passed first.
  bool WaitIdle(absl::Duration timeout);
  // Ends every stream in flight (see above). Later Generate calls are refused as draining.
  void AbortAll();
  int active_streams() const;
  // Called with the status code of every Generate call that ends non-OK and its model (the
  // configured name; the requested one when it did not resolve) (metrics), on the thread
  // finishing the call. REQUIRES: set before the server starts; thread-safe and quick.
  using FailureObserver = std::function<void(grpc::StatusCode, const std::string& model)>;
  void SetGenerateFailureObserver(FailureObserver observer) {
    on_generate_failure_ = std::move(observer);
  }
  // Sees each sample's final output and its model on the engine thread (metrics). REQUIRES: as
  // above.
  using SampleObserver =
      std::function<void(const engine::RequestOutput&, const std::string& model)>;
  void SetSampleObserver(SampleObserver observer) { on_sample_finished_ = std::move(observer); }
  // With keys required, every RPC of this service needs the `authorization` metadata
  // "Bearer KEY" (else UNAUTHENTICATED); `on_refused` counts refusals. REQUIRES: as above;
  // `keys` outlives the service.
  void SetApiKeys(const security::ApiKeys* keys, std::function<void()> on_refused) {
    keys_ = keys;
    on_auth_refused_ = std::move(on_refused);
  }
  // OK, or UNAUTHENTICATED (counted) when the call lacks a valid key.
  absl::Status CheckAuth(const grpc::CallbackServerContext* context) const;
  // Output bytes a Generate stream may queue for a client that does not read (see
  // server/request/output_channel.h). REQUIRES: set before the server starts.
  void SetStreamBufferLimit(int64_t bytes) { max_stream_buffer_bytes_ = bytes; }

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Generate(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ModelInfo(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;

 private:
  friend class GenerateReactor;

  // The typed handlers behind the raw unary methods.
  grpc::Status DoTokenize(const grpc::CallbackServerContext* context,
                          const v1::TokenizeRequest& request, v1::TokenizeResponse* response);
  grpc::Status DoDetokenize(const grpc::CallbackServerContext* context,
                            const v1::DetokenizeRequest& request, v1::DetokenizeResponse* response);
  grpc::Status DoListModels(const v1::ListModelsRequest& request, v1::ListModelsResponse* response);
  grpc::Status DoModelInfo(const grpc::CallbackServerContext* context,
                           const v1::ModelInfoRequest& request, v1::ModelInfoResponse* response);

  // Runs `fn` on a new detached thread; the destructor waits for every one to end.
  void RunDetached(std::function<void()> fn);
  // Reactor bookkeeping. Register returns false (and registers nothing) while draining.
  bool Register(GenerateReactor* reactor);
  void Unregister(GenerateReactor* reactor);
  // The lease of `name` for a call with `context`'s deadline.
  absl::StatusOr<ModelLease> Acquire(const std::string& name,
                                     const grpc::CallbackServerContext* context) const;

  const ModelResolver* const models_;
  FailureObserver on_generate_failure_;
  SampleObserver on_sample_finished_;
  const security::ApiKeys* keys_ = nullptr;
  std::function<void()> on_auth_refused_;
  int64_t max_stream_buffer_bytes_ = int64_t{1} << 20;

  mutable absl::Mutex mu_;
  absl::flat_hash_set<GenerateReactor*> active_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  int32_t detached_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hearth::server
