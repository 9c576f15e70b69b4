#include "server/grpc/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hearth::server {
namespace {

// Reflection on or off for one ServerBuilder. Linking gRPC's reflection library registers its
// plugin for every server of the process; this option drops it, or adds it once.
class ReflectionOption final : public grpc::ServerBuilderOption {
 public:
  explicit ReflectionOption(bool enabled) : enabled_(enabled) {}
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    grpc::reflection::ProtoServerReflectionPlugin reference;
    std::erase_if(*plugins, [&](const std::unique_ptr<grpc::ServerBuilderPlugin>& p) {
      return p->name() == reference.name();
    });
    if (enabled_)
      plugins->push_back(std::make_unique<grpc::reflection::ProtoServerReflectionPlugin>());
  }

 private:
  const bool enabled_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const std::string& address,
                                                              HearthService* service,
                                                              const security::TlsFiles& tls,
                                                              HealthService* health,
                                                              bool reflection) {
  grpc::EnableDefaultHealthCheckService(false);  // ours is registered below
  std::unique_ptr<GrpcServer> server(new GrpcServer());
  if (health == nullptr) {
    server->own_health_ = std::make_unique<HealthService>();
    health = server->own_health_.get();
  }
  server->health_ = health;
  grpc::ServerBuilder builder;
  builder.SetOption(std::make_unique<ReflectionOption>(reflection));
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
    return absl::UnavailableError(
        absl::StrCat("listen_address: cannot listen on ", address,
                     " (the port is in use, or the host is not an address of this machine)"));
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
