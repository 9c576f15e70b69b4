#include "server/cli/bench/runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

namespace hearth::server::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void RunOne(BenchTarget& target, const WorkItem& item, Clock::time_point t0, RequestRecord& r) {
  r.index = item.index;
  r.arrival = item.arrival_seconds;
  r.start = Since(t0);
  target.Run(item, r);
}

double Duration(const std::vector<RequestRecord>& records) {
  double end = 0;
  for (const RequestRecord& r : records) end = std::max(end, r.start + r.e2e);
  return end;
}

}  // namespace

RunResult RunClosedLoop(BenchTarget& target, const std::vector<WorkItem>& items,
                        int32_t concurrency) {
  RunResult result;
  result.records.resize(items.size());
  std::atomic<size_t> next{0};
  const Clock::time_point t0 = Clock::now();
  std::vector<std::thread> workers;
  const auto n = static_cast<size_t>(std::max(1, concurrency));
  for (size_t w = 0; w < std::min(n, items.size()); ++w) {
    workers.emplace_back([&] {
      for (size_t i = next++; i < items.size(); i = next++) {
        RunOne(target, items[i], t0, result.records[i]);
      }
    });
  }
  for (std::thread& t : workers) t.join();
  result.duration = Duration(result.records);
  return result;
}

RunResult RunOpenLoop(BenchTarget& target, const std::vector<WorkItem>& items) {
  RunResult result;
  result.records.resize(items.size());
  const Clock::time_point t0 = Clock::now();
  std::vector<std::thread> streams;
  streams.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    std::this_thread::sleep_until(t0 +
                                  std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(items[i].arrival_seconds)));
    streams.emplace_back([&, i] { RunOne(target, items[i], t0, result.records[i]); });
  }
  for (std::thread& t : streams) t.join();
  result.duration = Duration(result.records);
  return result;
}

}  // namespace hearth::server::cli
