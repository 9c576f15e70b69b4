// HttpExposer: a small HTTP server (cpp-httplib) that serves a Registry to Prometheus.
//   GET /metrics  200, Content-Type kTextContentType, Registry::Render() (path configurable)
//   GET /health   200 "ok" when options.health returns OK (or is unset), else 503 + the message
//   GET /ready    the same with options.ready
//   anything else 404
//
//   ASSIGN_OR_RETURN(auto exposer, HttpExposer::Start(&registry, {.address = "0.0.0.0",
//                                                                 .port = 9400}));
//   LOG(INFO) << "metrics on port " << exposer->port();
//
// Thread-safety: Start/Stop/port may be called from any thread; requests are served on the
// exposer's own threads. The Registry (and anything the callbacks use) must outlive the exposer.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "metrics/registry.h"

namespace hearth::metrics {

struct HttpExposerOptions {
  // Address to bind: "0.0.0.0", "127.0.0.1", "::1", a host name...
  std::string address = "0.0.0.0";
  // Port to bind; 0 picks a free port (read it back with HttpExposer::port()).
  int port = 9400;
  // Path serving the exposition; must start with '/' and not be /health or /ready.
  std::string metrics_path = "/metrics";
  // Liveness and readiness checks, called per request on a server thread. Unset means healthy /
  // ready. Must be thread-safe and quick.
  std::function<absl::Status()> health;
  std::function<absl::Status()> ready;
  // Worker threads serving requests.
  int num_threads = 2;
};

class HttpExposer {
 public:
  // Binds and starts serving on a background thread. Unavailable, naming address:port, when
  // the address cannot be bound. REQUIRES: registry != nullptr and outlives the exposer.
  static absl::StatusOr<std::unique_ptr<HttpExposer>> Start(const Registry* registry,
                                                            HttpExposerOptions options);
  ~HttpExposer();  // Stop()s.
  HttpExposer(const HttpExposer&) = delete;
  HttpExposer& operator=(const HttpExposer&) = delete;

  // The bound port (the real one when options.port was 0).
  int port() const;
  // Stops accepting, finishes in-flight requests and joins the threads. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit HttpExposer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::metrics
