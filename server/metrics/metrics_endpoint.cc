#include "server/metrics/metrics_endpoint.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "metrics/process_metrics.h"
#include "metrics/text_format.h"

namespace hearth::server {
namespace {

http::HttpResponse Text(int status, std::string body) {
  http::HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const MetricsConfig& config, std::vector<std::string> model_names, MetricsAccess access) {
  if (config.path.empty() || config.path[0] != '/' || config.path == "/health" ||
      config.path == "/ready") {
    return absl::InvalidArgumentError(absl::StrCat(
        "config key 'metrics.path': must start with '/' and not be /health or /ready, got '",
        config.path, "'"));
  }
  std::unique_ptr<MetricsEndpoint> e(new MetricsEndpoint());
  e->config_ = config;
  e->access_ = std::move(access);
  RETURN_IF_ERROR(metrics::RegisterProcessMetrics(&e->registry_));
  ASSIGN_OR_RETURN(e->serving_, ServingMetrics::Create(&e->registry_, std::move(model_names)));
  http::HttpServerOptions options;
  options.name = "metrics";
  options.address = config.listen_address;
  options.port = config.port;
  // Scrapes and probes are small GETs: small limits, one loop thread.
  options.max_connections = 512;
  options.max_header_bytes = 8 << 10;
  options.max_body_bytes = 64 << 10;
  options.num_threads = 1;
  options.tls = e->access_.tls;
  MetricsEndpoint* p = e.get();
  ASSIGN_OR_RETURN(e->server_,
                   http::HttpServer::Start(std::move(options), [p](http::HttpRequest& request) {
                     return p->Handle(request);
                   }));
  return e;
}

http::Reply MetricsEndpoint::Handle(const http::HttpRequest& request) {
  const bool is_metrics = request.path == config_.path;
  const bool is_probe = request.path == "/health" || request.path == "/ready";
  if (!is_metrics && !is_probe) return Text(404, "not found\n");
  if (request.method != "GET" && request.method != "HEAD") {
    http::HttpResponse r = Text(405, "method not allowed; use GET\n");
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  const bool protect = is_metrics ? access_.protect_metrics : access_.protect_health;
  if (protect && access_.keys != nullptr) {
    if (absl::Status st = access_.keys->CheckAuthorization(request.authorization); !st.ok()) {
      serving_->CountUnauthenticated(Protocol::kMetrics);
      http::HttpResponse r = Text(401, absl::StrCat(st.message(), "\n"));
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return r;
    }
  }
  if (is_metrics) {
    http::HttpResponse r;
    r.content_type = metrics::kTextContentType;
    serving_->Refresh();
    r.body = registry_.Render();
    return r;
  }
  const ServingPhase phase = phase_.load();
  if (phase == ServingPhase::kDraining) return Text(503, "NOT_SERVING: draining\n");
  if (request.path == "/ready" && phase == ServingPhase::kStarting) {
    return Text(503, "starting: loading the model\n");
  }
  return Text(200, "ok\n");
}

MetricsEndpoint::~MetricsEndpoint() { Stop(); }

int MetricsEndpoint::port() const { return server_ ? server_->port() : 0; }

void MetricsEndpoint::Stop() {
  if (server_) server_->Stop();
}

}  // namespace hearth::server
