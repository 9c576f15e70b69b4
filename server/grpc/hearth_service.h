// The hearth.v1.Hearth service over one Engine, with gRPC's callback API.
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
// Ownership: borrows the Engine. Destruction order: grpc::Server shut down and waited, then the
// Engine destroyed (its final outputs release the last reactors), then the grpc::Server object,
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
  // `model.tokenizer` must be the engine's tokenizer (or outlive the service).
  HearthService(engine::Engine& engine, ServedModel model, ModelFacts facts);
  ~HearthService() override;

  void StartDraining();
  bool draining() const;
  // True once no Generate stream is in flight; false when `timeout` passed first.
  bool WaitIdle(absl::Duration timeout);
  // Ends every stream in flight (see above). Later Generate calls are refused as draining.
  void AbortAll();
  int active_streams() const;
  // Called with the status code of every Generate call that ends non-OK (metrics), on the
  // thread finishing the call. REQUIRES: set before the server starts; thread-safe and quick.
  void SetGenerateFailureObserver(std::function<void(grpc::StatusCode)> observer) {
    on_generate_failure_ = std::move(observer);
  }
  // Sees each sample's final output on the engine thread (metrics). REQUIRES: as above.
  void SetSampleObserver(OutputChannel::FinalObserver observer) {
    on_sample_finished_ = std::move(observer);
  }
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
  grpc::Status DoTokenize(const v1::TokenizeRequest& request, v1::TokenizeResponse* response);
  grpc::Status DoDetokenize(const v1::DetokenizeRequest& request, v1::DetokenizeResponse* response);
  grpc::Status DoListModels(const v1::ListModelsRequest& request, v1::ListModelsResponse* response);
  grpc::Status DoModelInfo(const v1::ModelInfoRequest& request, v1::ModelInfoResponse* response);

  // Reactor bookkeeping. Register returns false (and registers nothing) while draining.
  bool Register(GenerateReactor* reactor);
  void Unregister(GenerateReactor* reactor);
  void FillCard(v1::ModelCard* card) const;

  engine::Engine& engine_;
  const ServedModel model_;
  const ModelFacts facts_;
  std::function<void(grpc::StatusCode)> on_generate_failure_;
  OutputChannel::FinalObserver on_sample_finished_;
  const security::ApiKeys* keys_ = nullptr;
  std::function<void()> on_auth_refused_;
  int64_t max_stream_buffer_bytes_ = int64_t{1} << 20;

  mutable absl::Mutex mu_;
  absl::flat_hash_set<GenerateReactor*> active_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hearth::server
