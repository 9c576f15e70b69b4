#include "server/cli/health_command.h"

#include <httplib.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/cli/bench/grpc_util.h"
#include "server/cli/serve_setup.h"

namespace hearth::server {
namespace {

constexpr int kExitReady = 0;
constexpr int kExitNotReady = 1;
constexpr int kExitUsage = 2;
constexpr int kTimeoutSeconds = 5;

int NotReady(const std::string& why) {
  std::fprintf(stderr, "hearth health: not ready: %s\n", why.c_str());
  return kExitNotReady;
}

int ProbeHttp(const MetricsConfig& metrics) {
  const std::string host = LocalHost(metrics.listen_address);
  httplib::Client client(host, metrics.port);
  client.set_connection_timeout(kTimeoutSeconds, 0);
  client.set_read_timeout(kTimeoutSeconds, 0);
  const std::string where = absl::StrCat("http://", host, ":", metrics.port, "/ready");
  httplib::Result result = client.Get("/ready");
  if (!result) return NotReady(absl::StrCat(where, ": ", httplib::to_string(result.error())));
  if (result->status != 200) {
    std::string body = result->body;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    return NotReady(absl::StrCat(where, ": HTTP ", result->status, " ", body));
  }
  std::printf("ready (%s)\n", where.c_str());
  return kExitReady;
}

int ProbeGrpc(const std::string& listen_address) {
  const size_t colon = listen_address.rfind(':');
  const std::string target =
      absl::StrCat(LocalHost(listen_address.substr(0, colon)), listen_address.substr(colon));
  auto channel = cli::MakeChannel(target);
  if (!channel.ok()) return NotReady(std::string(channel.status().message()));
  const cli::HealthResult h = cli::CheckHealth(**channel, "", kTimeoutSeconds * 1000);
  if (!h.status.ok()) return NotReady(absl::StrCat(target, ": ", cli::FormatStatus(h.status)));
  if (h.serving_status != "SERVING") return NotReady(absl::StrCat(target, ": ", h.serving_status));
  std::printf("ready (grpc %s)\n", target.c_str());
  return kExitReady;
}

}  // namespace

int RunHealth(int argc, char** argv) {
  auto setup = LoadServeSetup(std::vector<std::string>(argv + 1, argv + argc));
  if (!setup.ok()) {
    std::fprintf(stderr, "hearth health: %s\n", std::string(setup.status().message()).c_str());
    return kExitUsage;
  }
  if (setup->args.help) {
    std::printf(
        "usage: hearth health [--config FILE] [serve's --KEY=VALUE flags]\n\n"
        "Exit 0 when the local `hearth serve` with these settings is ready: GET /ready on\n"
        "metrics.port, or the gRPC health check on listen_address when metrics are disabled.\n"
        "Reads --config or $HEARTH_CONFIG and HEARTH_* like serve (`hearth serve --help`).\n");
    return kExitReady;
  }
  const ServerConfig& config = setup->loaded.config;
  return config.metrics.enabled ? ProbeHttp(config.metrics) : ProbeGrpc(config.listen_address);
}

}  // namespace hearth::server
