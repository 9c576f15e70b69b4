// The gRPC server process-side: the Hearth service plus the standard grpc.health.v1.Health
// service (Hearth's own, health_service.h) and (optionally, on by default) server reflection,
// listening on one address.
//
// Health: "" and "hearth.v1.Hearth" report SERVING after Start and NOT_SERVING after
// SetServing(false) (the first step of a graceful shutdown).
// Ownership: borrows the services, which must outlive this object.
// Thread-safety: SetServing / Shutdown may be called from any thread.
#pragma once

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/grpc/health_service.h"
#include "server/grpc/hearth_service.h"
#include "server/security/tls_files.h"

namespace hearth::server {

class GrpcServer {
 public:
  // Binds `address` ("host:port"; port 0 picks a free one) and starts serving, over TLS when
  // `tls` is enabled (requiring and verifying client certificates when it has a client CA), with
  // the grpc.reflection.v1alpha.ServerReflection service when `reflection`. Unavailable naming
  // the address when it cannot be bound (in use, or not an address of this host).
  // `health` may be null (a default HealthService of this server's own is used then).
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const std::string& address,
                                                           HearthService* service,
                                                           const security::TlsFiles& tls = {},
                                                           HealthService* health = nullptr,
                                                           bool reflection = true);
  ~GrpcServer();

  // The bound port.
  int port() const { return port_; }
  void SetServing(bool serving);
  // Stops accepting calls; calls still running after `grace` are cancelled. Blocks until done.
  void Shutdown(absl::Duration grace);

 private:
  GrpcServer() = default;

  std::unique_ptr<HealthService> own_health_;
  HealthService* health_ = nullptr;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace hearth::server
