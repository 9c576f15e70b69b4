// ApiService: the OpenAI- and Ollama-compatible HTTP API over the served engine(s); the handler
// behind the API port's HttpServer.
//
//   OpenAI   POST /v1/completions, /v1/chat/completions (SSE when "stream": true)
//            GET  /v1/models, /v1/models/{id};  POST /tokenize, /detokenize;  GET /version
//   Ollama   POST /api/generate, /api/chat (NDJSON unless "stream": false), /api/show
//            GET  /api/tags, /api/ps, /api/version, /
//   both     GET  /health (200 "ok"; 503 while draining)
//
// Every generation goes: JSON -> GenerateSpec (openai_request / ollama_api) -> the model's
// engine (ModelResolver::Acquire: "" is the default model, an unknown name 404 listing the
// served ones; a lazy model is loaded first, the handler thread waiting; the lease is held by
// the request's OutputChannel until its last output) -> BuildEngineRequest (the validation path
// shared with gRPC) -> OutputChannel -> GenerationStream -> the connection. Errors answer in the
// shape of the route's protocol ({"error": {...}} on OpenAI routes and unknown routes, {"error":
// "..."} under /api/).
//
// Auth: with API keys required, every route needs `Authorization: Bearer KEY` except / and
// /health (those too when protect_health). A refused call is 401 and counted.
//
// Draining: StartDraining() makes new generations and tokenizations 503 "server shutting down"
// (listings keep answering); WaitIdle() waits for the streams in flight; AbortAll() ends them
// (aborted in the engine; their clients see the 503 error in the protocol's shape).
//
// Ownership: borrows the resolver, keys and callbacks' targets, which must outlive it; the
// HttpServer using Handle must be stopped before this object is destroyed.
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/request.h"
#include "server/http/generation_stream.h"
#include "server/http/http_message.h"
#include "server/request/protocol.h"
#include "server/request/served_model.h"
#include "server/security/api_keys.h"

namespace hearth::server::http {

struct ApiServiceOptions {
  const ModelResolver* models = nullptr;    // required
  const security::ApiKeys* keys = nullptr;  // null: no auth
  bool protect_health = false;
  std::string version;  // GET /version, /api/version
  // Output a generation may queue for a client that does not read its response (OutputChannel's
  // bound); past it the generation is aborted with RESOURCE_EXHAUSTED. 0: unbounded.
  int64_t max_stream_buffer_bytes = 0;
  // Metrics hooks (optional, thread-safe, quick). on_sample_finished runs on the engine thread.
  // `model`: the configured name (the requested one, or "", when it did not resolve).
  std::function<void(const engine::RequestOutput&, Protocol, const std::string& model)>
      on_sample_finished;
  // A generation call failed.
  std::function<void(absl::StatusCode, Protocol, const std::string& model)> on_failure;
  std::function<void(Protocol)> on_unauthenticated;  // a call refused for its key
};

class ApiService {
 public:
  explicit ApiService(ApiServiceOptions options) : options_(std::move(options)) {}
  ~ApiService();

  // The HttpServer handler.
  Reply Handle(HttpRequest& request);
  // The body of an error the HttpServer answers itself (413, 431, 400, 503), in the shape of the
  // path's protocol (HttpServerOptions::error_response).
  static HttpResponse ServerError(int status, const std::string& path, const std::string& message);

  void StartDraining();
  bool draining() const;
  // True once no generation is in flight; false when `timeout` passed first.
  bool WaitIdle(absl::Duration timeout);
  void AbortAll();
  int active_streams() const;

 private:
  // The routes after auth. `may_defer`: a request whose model must load first is answered by a
  // DeferredReply that runs Dispatch(request, false) on its own thread (the event loop must
  // not block: the streams that would free room for the model are written by it).
  Reply Dispatch(HttpRequest& request, bool may_defer);
  bool NeedsLoad(const HttpRequest& request) const;
  Reply Defer(HttpRequest& request);
  Reply OpenAiCompletion(const HttpRequest& request, bool chat);
  Reply OllamaGenerate(const HttpRequest& request, bool chat);
  HttpResponse Tokenize(const HttpRequest& request);
  HttpResponse Detokenize(const HttpRequest& request);
  HttpResponse ListOpenAiModels(absl::string_view id) const;
  // /api/tags (every configured model, with "loaded") or /api/ps (the loaded ones).
  HttpResponse OllamaTags(bool loaded_only) const;
  HttpResponse OllamaShow(const HttpRequest& request) const;
  // Registers a stream that submitted its requests; it reports its end to this service.
  void Track(const std::shared_ptr<GenerationStream>& stream, Protocol protocol,
             const std::string& model);
  void Failed(absl::StatusCode code, Protocol protocol, const std::string& model) const;

  const ApiServiceOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<GenerationStream*, std::weak_ptr<GenerationStream>> active_
      ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  int32_t deferred_ ABSL_GUARDED_BY(mu_) = 0;  // DeferredReply threads running
};

}  // namespace hearth::server::http
