// The gRPC server process-side: the Hearth service plus the standard grpc.health.v1.Health
// service and (optionally, on by default) server reflection, listening on one address.
//
// Health: "" and "hearth.v1.Hearth" report SERVING after Start and NOT_SERVING after
// SetServing(false) (the first step of a graceful shutdown).
// Ownership: borrows the service, which must outlive this object.
// Thread-safety: SetServing / Shutdown may be called from any thread.
#pragma once

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/grpc/hearth_service.h"

namespace hearth::server {

class GrpcServer {
 public:
  // Binds `address` ("host:port"; port 0 picks a free one) and starts serving, with the
  // grpc.reflection.v1alpha.ServerReflection service when `reflection`. Unavailable naming the
  // address when it cannot be bound (in use, or not an address of this host).
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const std::string& address,
                                                           HearthService* service,
                                                           bool reflection = true);
  ~GrpcServer();

  // The bound port.
  int port() const { return port_; }
  void SetServing(bool serving);
  // Stops accepting calls; calls still running after `grace` are cancelled. Blocks until done.
  void Shutdown(absl::Duration grace);

 private:
  GrpcServer() = default;

  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace hearth::server
