// The two BenchTargets of `hearth bench-serve`: a running server over gRPC, and the engine in
// this process (the offline baseline the service layer is measured against). Both send the
// same request: the item's prompt as token ids, max_tokens = the item's output length,
// ignore_eos (so lengths are exact), the given temperature.
//
// Thread-safety: Run may be called from many threads at once.
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"
#include "grpcpp/grpcpp.h"
#include "hearth/v1/hearth.grpc.pb.h"
#include "server/cli/bench/runner.h"

namespace hearth::server::cli {

class GrpcTarget final : public BenchTarget {
 public:
  // `deadline_ms` <= 0: none.
  GrpcTarget(std::shared_ptr<grpc::Channel> channel, std::string model, float temperature,
             int64_t deadline_ms);
  void Run(const WorkItem& item, RequestRecord& record) override;

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Hearth::Stub> stub_;
  const std::string model_;
  const float temperature_;
  const int64_t deadline_ms_;
};

// Borrows `engine`, which must outlive this object.
class EngineTarget final : public BenchTarget {
 public:
  EngineTarget(engine::Engine& engine, float temperature);
  void Run(const WorkItem& item, RequestRecord& record) override;

 private:
  engine::Engine& engine_;
  const float temperature_;
};

}  // namespace hearth::server::cli
