// gRPC helpers shared by `hearth client` and `hearth bench-serve`.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace hearth::server::cli {

// The canonical upper-case name of a gRPC status code, e.g. "RESOURCE_EXHAUSTED".
const char* StatusCodeName(grpc::StatusCode code);

// "CODE: message".
std::string FormatStatus(const grpc::Status& status);

// An insecure channel to `address` (HOST:PORT) with unlimited message sizes.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address);

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
