// Load loops of `hearth bench-serve` over a BenchTarget (the gRPC server, or the engine in
// process for the offline baseline):
//
//   closed loop: `concurrency` threads, each sends its next request when its last one ends;
//   open loop:   request i is sent at its arrival time (Poisson), one thread per stream, however
//                many are in flight.
//
// Thread-safety: the loops call BenchTarget::Run from many threads at once.
#pragma once

#include <cstdint>
#include <vector>

#include "server/cli/bench/report.h"
#include "server/cli/bench/workload.h"

namespace hearth::server::cli {

class BenchTarget {
 public:
  virtual ~BenchTarget() = default;
  // Sends `item`, blocks until its stream ends and fills `record` (ok / error, prompt_tokens,
  // OnMessage per streamed message with seconds since the send, e2e). Thread-safe.
  virtual void Run(const WorkItem& item, RequestRecord& record) = 0;
};

struct RunResult {
  std::vector<RequestRecord> records;  // by index; `start` set from the run's clock
  double duration = 0;                 // run start to the last stream's end, seconds
};

// REQUIRES: concurrency >= 1.
RunResult RunClosedLoop(BenchTarget& target, const std::vector<WorkItem>& items,
                        int32_t concurrency);
RunResult RunOpenLoop(BenchTarget& target, const std::vector<WorkItem>& items);

}  // namespace hearth::server::cli
