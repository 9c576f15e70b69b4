// The standard grpc.health.v1.Health service (Check and Watch), served by Hearth itself rather
// than gRPC's default implementation, so that with `auth.protect_health` it requires an API key
// like every other RPC (the default service cannot be guarded without TLS).
//
//   Check(service):  SERVING / NOT_SERVING for a known service ("" and "hearth.v1.Hearth");
//                    NOT_FOUND for others.
//   Watch(service):  the status now, then every change (SERVICE_UNKNOWN for unknown services),
//                    until the client cancels or the server shuts down.
//
// Thread-safety: all methods are thread-safe. Ownership: the keys (if any) outlive the service;
// the grpc::Server is shut down before the service is destroyed.
#pragma once

#include <functional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/security/api_keys.h"

namespace hearth::server {

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  HealthService();
  ~HealthService() override;

  // With keys required, Check and Watch need the `authorization` metadata; `on_refused` counts
  // refusals. REQUIRES: called before the server starts.
  void RequireKeys(const security::ApiKeys* keys, std::function<void()> on_refused);
  // Sets the status of `service` (known from then on) and tells its watchers.
  void SetStatus(const std::string& service, bool serving);
  // Ends every Watch (server shutdown).
  void Shutdown();

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  class Watcher;
  grpc::Status CheckAuth(const grpc::CallbackServerContext* context) const;
  ServingStatus StatusLocked(const std::string& service) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const security::ApiKeys* keys_ = nullptr;
  std::function<void()> on_refused_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<Watcher*> watchers_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hearth::server
