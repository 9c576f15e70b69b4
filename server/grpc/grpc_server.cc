#include "server/grpc/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <chrono>

#include "absl/strings/str_cat.h"

namespace hearth::server {

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const std::string& address,
                                                              HearthService* service,
                                                              const security::TlsFiles& tls,
                                                              HealthService* health) {
  grpc::EnableDefaultHealthCheckService(false);  // ours is registered below
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::unique_ptr<GrpcServer> server(new GrpcServer());
  if (health == nullptr) {
    server->own_health_ = std::make_unique<HealthService>();
    health = server->own_health_.get();
  }
  server->health_ = health;
  grpc::ServerBuilder builder;
  // A second server on a port in use must fail, not share it (gRPC sets SO_REUSEPORT).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (tls.enabled()) {
    grpc::SslServerCredentialsOptions options(
        tls.mutual() ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                     : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    options.pem_root_certs = tls.client_ca_pem;
    options.pem_key_cert_pairs.push_back({tls.private_key_pem, tls.cert_chain_pem});
    credentials = grpc::SslServerCredentials(options);
  }
  builder.AddListeningPort(address, credentials, &server->port_);
  builder.RegisterService(service);
  builder.RegisterService(health);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  }
  server->SetServing(true);
  return server;
}

GrpcServer::~GrpcServer() = default;

void GrpcServer::SetServing(bool serving) {
  health_->SetStatus("", serving);
  health_->SetStatus(v1::Hearth::service_full_name(), serving);
}

void GrpcServer::Shutdown(absl::Duration grace) {
  health_->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  server_->Wait();
}

}  // namespace hearth::server
