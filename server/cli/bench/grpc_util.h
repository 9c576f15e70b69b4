// gRPC helpers shared by `hearth client` and `hearth bench-serve`.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace hearth::server::cli {

// The canonical upper-case name of a gRPC status code, e.g. "RESOURCE_EXHAUSTED".
const char* StatusCodeName(grpc::StatusCode code);

// "CODE: message".
std::string FormatStatus(const grpc::Status& status);

// An insecure channel with unlimited message sizes to `address`: one HOST:PORT (or any gRPC
// target URI), or several separated by commas. Several servers become one ipv4:/ipv6: target
// (host names resolved now) with the service config of BalancedServiceConfig: calls go
// round-robin to the replicas, a replica whose health turns NOT_SERVING (draining) gets no new
// calls, and a call refused before its first message with UNAVAILABLE or RESOURCE_EXHAUSTED is
// sent again (to the next replica; after the server's retry pushback). InvalidArgument for a
// malformed list or a host that does not resolve.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address);

// The target for a comma-separated list ("ipv4:10.0.0.1:50051,10.0.0.2:50051"), and how many
// addresses it names; one address is returned as is with count 1.
absl::StatusOr<std::pair<std::string, int>> BalancedTarget(const std::string& addresses);

// The service config JSON of a balanced channel (retries: extra attempts, 0-4).
std::string BalancedServiceConfig(int retries);

// Sets `context`'s deadline `ms` milliseconds from now; ms <= 0 leaves it unset.
void SetDeadlineMs(grpc::ClientContext& context, int64_t ms);

// grpc.health.v1.Health/Check of `service` ("" = the server) over a generic stub (Debian's
// grpc++ ships no generated health stubs): the status name ("SERVING", "NOT_SERVING",
// "SERVICE_UNKNOWN", "UNKNOWN") or the RPC's error.
struct HealthResult {
  grpc::Status status;
  std::string serving_status;
};
HealthResult CheckHealth(grpc::Channel& channel, const std::string& service, int64_t deadline_ms);

}  // namespace hearth::server::cli
