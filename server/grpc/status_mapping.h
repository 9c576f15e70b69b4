// The one place an absl::Status becomes a wire status (gRPC now, HTTP for the HTTP service).
//
//   absl code            gRPC code            HTTP   when
//   InvalidArgument      INVALID_ARGUMENT     400    a bad field (message names it)
//   NotFound             NOT_FOUND            404    unknown model
//   ResourceExhausted    RESOURCE_EXHAUSTED   429    waiting queue full
//   Unavailable          UNAVAILABLE          503    draining / shutting down
//   DeadlineExceeded     DEADLINE_EXCEEDED    504    client deadline passed
//   Cancelled            CANCELLED            499    client cancelled
//   anything else        the same code        500
//
// absl::StatusCode and grpc::StatusCode share their numbering (both follow google.rpc.Code);
// codes outside it become UNKNOWN. The message is kept verbatim.
// Thread-safety: pure functions.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace hearth::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

// The HTTP status for a code (see the table).
int ToHttpStatus(absl::StatusCode code);

}  // namespace hearth::server
