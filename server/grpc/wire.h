// Request parsing and response serialization for the raw-bytes gRPC methods of HearthService.
//
// The service receives every request as bytes (grpc::ByteBuffer) and parses it here, because
// gRPC's generated handlers answer a request that fails to parse with UNIMPLEMENTED and an
// empty message (and libprotobuf logs an ERROR line per such request). Here:
//
//   invalid UTF-8 in a string field  INVALID_ARGUMENT "GenerateRequest: string field
//                                    hearth.v1.ChatMessage.content is not valid UTF-8"
//   any other malformed encoding     INVALID_ARGUMENT "GenerateRequest: not a valid protobuf
//                                    encoding (N bytes)"
//
// and libprotobuf's log line for it is swallowed (other libprotobuf log lines still reach
// stderr).
//
// Thread-safety: thread-safe (the capture of libprotobuf's log is per thread).
#pragma once

#include <grpcpp/support/byte_buffer.h>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace hearth::server {

// Parses `in` into `out` (which is cleared first). InvalidArgument naming the message type
// and the problem, as above.
absl::Status ParseRequest(const grpc::ByteBuffer& in, google::protobuf::Message* out);

// Serializes `message` into `out`. Internal error only if serialization itself fails.
absl::Status SerializeResponse(const google::protobuf::Message& message, grpc::ByteBuffer* out);

}  // namespace hearth::server
