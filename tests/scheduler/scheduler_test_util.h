// Helpers shared by the scheduler tests: a compact view of a step for table comparisons,
// a driver loop over the fake runner, and the leak check.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <ostream>
#include <vector>

#include "scheduler/scheduler.h"
#include "tests/scheduler/fake_runner.h"

namespace hearth::scheduler::testing {

// (id, start position, tokens computed, samples?) of one scheduled sequence.
struct Entry {
  SeqId id;
  int32_t start;
  int32_t n;
  bool sample;
  friend bool operator==(const Entry&, const Entry&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Entry& e) {
    return os << "{" << e.id << " @" << e.start << " +" << e.n << (e.sample ? " S" : "") << "}";
  }
};

inline std::vector<Entry> View(const SchedulerStep& step) {
  std::vector<Entry> v;
  for (const auto& s : step.sequences) {
    v.push_back({s.id, s.start_position, s.num_tokens(), s.sample});
  }
  return v;
}

// Every block back in the pool (device and host), nothing left in the scheduler.
inline void ExpectNoLeaks(const Scheduler& s) {
  const kvcache::KvCacheUsage u = s.kv_cache().Usage();
  EXPECT_FALSE(s.HasUnfinished());
  EXPECT_EQ(s.kv_cache().NumSequences(), 0);
  EXPECT_EQ(u.device.num_used, 0);
  EXPECT_EQ(u.device.num_free + u.device.num_evictable, u.device.num_blocks);
  EXPECT_EQ(u.num_host_used, 0);
  const SchedulerStats st = s.Stats();
  EXPECT_EQ(st.num_running + st.num_waiting + st.num_swapped, 0);
}

// One Schedule / Execute / Update round; finished sequences are added to `done`.
inline SchedulerStep Step(Scheduler& s, FakeRunner& runner,
                          std::map<SeqId, FinishedSequence>* done) {
  SchedulerStep step = s.Schedule();
  std::vector<int32_t> sampled = runner.Execute(step);
  absl::StatusOr<std::vector<FinishedSequence>> fin = s.Update(step, sampled);
  EXPECT_TRUE(fin.ok()) << fin.status();
  if (fin.ok()) {
    for (FinishedSequence& f : *fin) (*done)[f.id] = std::move(f);
  }
  return step;
}

// Steps until nothing is left (or max_steps). Returns the number of steps taken.
inline int RunUntilIdle(Scheduler& s, FakeRunner& runner, std::map<SeqId, FinishedSequence>* done,
                        int max_steps = 10000) {
  int steps = 0;
  while (s.HasUnfinished() && steps < max_steps) {
    Step(s, runner, done);
    ++steps;
  }
  EXPECT_FALSE(s.HasUnfinished()) << "not finished after " << max_steps << " steps";
  return steps;
}

inline std::vector<int32_t> Tokens(int32_t n, int32_t seed) {
  std::vector<int32_t> v(n);
  uint32_t x = 2463534242u + static_cast<uint32_t>(seed) * 7919u;
  for (auto& t : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    t = 1 + static_cast<int32_t>(x % 30000);
  }
  return v;
}

}  // namespace hearth::scheduler::testing
