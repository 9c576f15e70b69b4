// MetricsEndpoint: the HTTP side of `hearth serve`'s observability, on its own port (the
// `metrics` config section, default 0.0.0.0:9464):
//   GET /metrics (metrics.path)  the Registry: hearth:* serving metrics + process_* metrics
//   GET /health                  200 while starting or serving; 503 "NOT_SERVING" once draining
//   GET /ready                   200 only while serving (model loaded, gRPC listening, not
//                                draining); 503 otherwise
//
//   ASSIGN_OR_RETURN(auto endpoint, MetricsEndpoint::Start(config.metrics, model_name));
//   engine = Engine::Create(model, config, endpoint->serving().Hooks());
//   endpoint->serving().AttachEngine(engine.get(), info);
//   endpoint->SetPhase(ServingPhase::kServing);  ...  SetPhase(kDraining);
//   endpoint->Stop();  // before the Engine is destroyed
//
// Thread-safety: SetPhase / port / Stop from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "metrics/http_exposer.h"
#include "metrics/registry.h"
#include "server/config/server_config.h"
#include "server/metrics/serving_metrics.h"

namespace hearth::server {

enum class ServingPhase { kStarting, kServing, kDraining };

class MetricsEndpoint {
 public:
  // Registers the process and serving metrics and starts serving HTTP. Unavailable when the
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(const MetricsConfig& config,
                                                                std::string model_name);
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

  metrics::Registry registry_;
  std::unique_ptr<ServingMetrics> serving_;
  std::atomic<ServingPhase> phase_{ServingPhase::kStarting};
  std::unique_ptr<metrics::HttpExposer> exposer_;
};

}  // namespace hearth::server
