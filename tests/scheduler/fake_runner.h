// A fake model runner for scheduler tests: it keeps a paged "KV cache" that stores token ids
// (device and host blocks), executes a step's swaps and copies, writes each new token into its
// slot through the block table, and "samples" the next token from the context it reads back
// through the block table. Any wrong block table, copy-on-write, swap or prefix-cache mapping
// changes what it reads, so outputs stop matching RunAlone(), which derives them from the
// token history directly, without blocks.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "scheduler/scheduler_step.h"

namespace hearth::scheduler::testing {

// The "model": a deterministic function of the sequence id and its whole context.
inline int32_t NextToken(SeqId id, absl::Span<const int32_t> context) {
  uint64_t h = 0xcbf29ce484222325ULL ^ (static_cast<uint64_t>(id) * 0x9e3779b97f4a7c15ULL);
  for (size_t i = 0; i < context.size(); ++i) {
    h = (h ^ static_cast<uint32_t>(context[i])) * 0x100000001b3ULL;
    h ^= (h >> 29) + i;
  }
  return 1 + static_cast<int32_t>(h % 997);
}

// Reference outputs: the sequence generated on its own, no KV cache involved.
inline std::vector<int32_t> RunAlone(SeqId id, std::vector<int32_t> tokens, int32_t max_tokens,
                                     const std::vector<int32_t>& stop_ids = {}) {
  std::vector<int32_t> out;
  for (int32_t i = 0; i < max_tokens; ++i) {
    const int32_t t = NextToken(id, tokens);
    tokens.push_back(t);
    out.push_back(t);
    if (std::find(stop_ids.begin(), stop_ids.end(), t) != stop_ids.end()) break;
  }
  return out;
}

class FakeRunner {
 public:
  FakeRunner(int32_t num_blocks, int32_t num_host_blocks, int32_t block_size)
      : block_size_(block_size),
        device_(static_cast<size_t>(num_blocks) * block_size, kEmpty),
        host_(static_cast<size_t>(num_host_blocks) * block_size, kEmpty) {}

  // Executes `step` in the engine's order: swap out, swap in, copies, forward. Returns one
  // token per sequence with sample = true.
  std::vector<int32_t> Execute(const SchedulerStep& step) {
    for (auto [dev, host] : step.swap_out) CopyBlock(device_, dev, host_, host);
    for (auto [host, dev] : step.swap_in) CopyBlock(host_, host, device_, dev);
    for (auto [src, dst] : step.copies) CopyBlock(device_, src, device_, dst);
    std::vector<int32_t> sampled;
    int32_t total = 0;
    for (const ScheduledSequence& s : step.sequences) {
      EXPECT_EQ(s.context_len, s.start_position + s.num_tokens()) << "seq " << s.id;
      EXPECT_EQ(static_cast<int32_t>(s.block_table.size()),
                (s.context_len + block_size_ - 1) / block_size_)
          << "seq " << s.id;
      total += s.num_tokens();
      for (int32_t j = 0; j < s.num_tokens(); ++j) {
        device_[Slot(s, s.start_position + j)] = s.token_ids[j];
      }
      if (!s.sample) continue;
      std::vector<int32_t> context(s.context_len);
      for (int32_t p = 0; p < s.context_len; ++p) context[p] = device_[Slot(s, p)];
      sampled.push_back(NextToken(s.id, context));
    }
    EXPECT_EQ(total, step.num_batched_tokens);
    return sampled;
  }

 private:
  static constexpr int32_t kEmpty = -1;

  size_t Slot(const ScheduledSequence& s, int32_t pos) const {
    return static_cast<size_t>(s.block_table[pos / block_size_]) * block_size_ + pos % block_size_;
  }
  void CopyBlock(const std::vector<int32_t>& from, int32_t src, std::vector<int32_t>& to,
                 int32_t dst) {
    std::copy_n(from.begin() + static_cast<size_t>(src) * block_size_, block_size_,
                to.begin() + static_cast<size_t>(dst) * block_size_);
  }

  int32_t block_size_;
  std::vector<int32_t> device_;  // [num_blocks * block_size] token id per slot
  std::vector<int32_t> host_;    // [num_host_blocks * block_size]
};

}  // namespace hearth::scheduler::testing
