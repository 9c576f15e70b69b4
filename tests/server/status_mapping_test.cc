// The absl::Status -> gRPC / HTTP status mapping.
#include "server/grpc/status_mapping.h"

#include "gtest/gtest.h"

namespace hearth::server {
namespace {

struct Case {
  absl::Status in;
  grpc::StatusCode grpc_code;
  int http;
};

TEST(StatusMappingTest, Table) {
  const Case cases[] = {
      {absl::OkStatus(), grpc::StatusCode::OK, 200},
      {absl::InvalidArgumentError("temperature: bad"), grpc::StatusCode::INVALID_ARGUMENT, 400},
      {absl::NotFoundError("model"), grpc::StatusCode::NOT_FOUND, 404},
      {absl::ResourceExhaustedError("queue"), grpc::StatusCode::RESOURCE_EXHAUSTED, 429},
      {absl::UnavailableError("draining"), grpc::StatusCode::UNAVAILABLE, 503},
      {absl::DeadlineExceededError("late"), grpc::StatusCode::DEADLINE_EXCEEDED, 504},
      {absl::CancelledError("gone"), grpc::StatusCode::CANCELLED, 499},
      {absl::InternalError("oops"), grpc::StatusCode::INTERNAL, 500},
      {absl::FailedPreconditionError("x"), grpc::StatusCode::FAILED_PRECONDITION, 400},
      {absl::UnimplementedError("x"), grpc::StatusCode::UNIMPLEMENTED, 501},
      {absl::Status(static_cast<absl::StatusCode>(42), "odd"), grpc::StatusCode::UNKNOWN, 500},
  };
  for (const Case& c : cases) {
    const grpc::Status g = ToGrpcStatus(c.in);
    EXPECT_EQ(g.error_code(), c.grpc_code) << c.in;
    EXPECT_EQ(g.error_message(), std::string(c.in.message())) << c.in;
    EXPECT_EQ(ToHttpStatus(c.in.code()), c.http) << c.in;
  }
}

}  // namespace
}  // namespace hearth::server
