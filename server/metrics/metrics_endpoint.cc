#include "server/metrics/metrics_endpoint.h"

#include <utility>

#include "common/status_macros.h"
#include "metrics/process_metrics.h"

namespace hearth::server {

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(const MetricsConfig& config,
                                                                        std::string model_name) {
  std::unique_ptr<MetricsEndpoint> e(new MetricsEndpoint());
  RETURN_IF_ERROR(metrics::RegisterProcessMetrics(&e->registry_));
  ASSIGN_OR_RETURN(e->serving_, ServingMetrics::Create(&e->registry_, std::move(model_name)));
  metrics::HttpExposerOptions options;
  options.address = config.listen_address;
  options.port = config.port;
  options.metrics_path = config.path;
  MetricsEndpoint* p = e.get();
  options.health = [p] {
    return p->phase_.load() == ServingPhase::kDraining
               ? absl::UnavailableError("NOT_SERVING: draining")
               : absl::OkStatus();
  };
  options.ready = [p] {
    switch (p->phase_.load()) {
      case ServingPhase::kServing:
        return absl::OkStatus();
      case ServingPhase::kStarting:
        return absl::UnavailableError("starting: loading the model");
      case ServingPhase::kDraining:
        break;
    }
    return absl::UnavailableError("NOT_SERVING: draining");
  };
  ASSIGN_OR_RETURN(e->exposer_, metrics::HttpExposer::Start(&e->registry_, std::move(options)));
  return e;
}

MetricsEndpoint::~MetricsEndpoint() { Stop(); }

int MetricsEndpoint::port() const { return exposer_ ? exposer_->port() : 0; }

void MetricsEndpoint::Stop() {
  if (exposer_) exposer_->Stop();
}

}  // namespace hearth::server
