// MetricsEndpoint: the HTTP side of `hearth serve`'s observability, on its own port (the
// `metrics` config section, default 0.0.0.0:9464), served by the same HttpServer as the API
// (server/http/http_server.h: event loop, bounded connections / header / body, header and
// write deadlines, optional TLS), so slow or idle sockets cannot block a scrape or /ready.
//   GET /metrics (metrics.path)  the Registry: hearth:* serving metrics + process_* metrics
//   GET /health                  200 while starting or serving; 503 "NOT_SERVING" once draining
//   GET /ready                   200 only while serving (every eager model loaded, listeners
//                                up, not draining); 503 otherwise
// With API keys required, /metrics needs `Authorization: Bearer KEY` when protect_metrics,
// /health and /ready when protect_health (refusals: 401, counted with protocol "metrics").
//
//   ASSIGN_OR_RETURN(auto endpoint, MetricsEndpoint::Start(config.metrics, model_names, access));
//   engine = Engine::Create(model, config, endpoint->serving().Hooks(model_names[0]));
//   endpoint->serving().SetModelSource(source, info);
//   endpoint->SetPhase(ServingPhase::kServing);  ...  SetPhase(kDraining);
//   endpoint->Stop();  // before the Engine is destroyed
//
// Thread-safety: SetPhase / port / Stop from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "metrics/registry.h"
#include "server/config/server_config.h"
#include "server/http/http_server.h"
#include "server/metrics/serving_metrics.h"
#include "server/security/api_keys.h"
#include "server/security/tls_files.h"

namespace hearth::server {

enum class ServingPhase { kStarting, kServing, kDraining };

// Who may read the endpoint and over what.
struct MetricsAccess {
  security::TlsFiles tls;
  const security::ApiKeys* keys = nullptr;  // null: open; must outlive the endpoint
  bool protect_metrics = false;
  bool protect_health = false;
};

class MetricsEndpoint {
 public:
  // Registers the process and serving metrics and starts serving HTTP. Unavailable when the
  // address cannot be bound; InvalidArgument naming `metrics.path` for a path that clashes.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const MetricsConfig& config, std::vector<std::string> model_names, MetricsAccess access = {});
  ~MetricsEndpoint();  // Stop()s.
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  ServingMetrics& serving() { return *serving_; }
  void SetPhase(ServingPhase phase) { phase_.store(phase); }
  int port() const;
  // Stops serving HTTP (idempotent). After it, callbacks into the Engine no longer run.
  void Stop();

 private:
  MetricsEndpoint() = default;
  http::Reply Handle(const http::HttpRequest& request);

  MetricsConfig config_;
  MetricsAccess access_;
  metrics::Registry registry_;
  std::unique_ptr<ServingMetrics> serving_;
  std::atomic<ServingPhase> phase_{ServingPhase::kStarting};
  std::unique_ptr<http::HttpServer> server_;
};

}  // namespace hearth::server
