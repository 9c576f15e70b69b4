// A tiny driver for tests and benches (the hearth_engine_testing library): runs whole token
// sequences through a Backend with the simplest block allocation (sequence i owns blocks [i *
// blocks_per_seq, (i+1) * blocks_per_seq), or a caller-chosen block table). The paged KV cache
// manager and scheduler replace it in the engine; this exists so a backend can be exercised without
// them.
//
//   SequenceRunner runner(backend, /*block_size=*/16);
//   RETURN_IF_ERROR(runner.Init(/*max_seqs=*/4, /*max_len=*/256));
//   int a = runner.Add({1, 2, 3});
//   ASSIGN_OR_RETURN(Batch batch, runner.MakeBatch({{a, 3}}));   // prefill all 3 tokens
//   RETURN_IF_ERROR(backend->Forward(batch, &logits));
//   runner.Commit(batch);                                       // they are cached now
//
// Thread-safety: not thread-safe. The backend must outlive the runner.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend.h"

namespace hearth::engine {

class SequenceRunner {
 public:
  SequenceRunner(Backend* backend, int32_t block_size)
      : backend_(backend), block_size_(block_size) {}

  // Sizes the backend's cache for `max_seqs` sequences of up to `max_len` tokens, plus
  // `host_blocks` swap blocks.
  absl::Status Init(int32_t max_seqs, int32_t max_len, int32_t host_blocks = 0);

  // A new sequence with the given known tokens (none cached yet). Returns its id (0, 1, ...).
  // `block_table` overrides the contiguous default (must hold blocks_per_seq() ids).
  int32_t Add(std::vector<int32_t> tokens, std::vector<int32_t> block_table = {});
  void Append(int32_t seq, int32_t token) { seqs_[seq].tokens.push_back(token); }

  // A batch taking, for each (seq, n) in `work` (in that order), the next n uncached tokens.
  // A sequence samples when its chunk reaches its last known token.
  // InvalidArgument when a sequence has fewer than n uncached tokens or exceeds max_len.
  absl::StatusOr<Batch> MakeBatch(const std::vector<std::pair<int32_t, int32_t>>& work) const;
  // Marks the batch's tokens as cached.
  void Commit(const Batch& batch);
  // Declares the first `n` tokens of `seq` cached (their K/V put in place by the caller, e.g.
  // with Backend::CopyBlocks from another sequence's blocks). REQUIRES: n <= tokens(seq).size().
  void MarkCached(int32_t seq, int32_t n) { seqs_[seq].cached = n; }
  const std::vector<int32_t>& block_table(int32_t seq) const { return seqs_[seq].block_table; }

  // Convenience: prefills every sequence in chunks of up to `chunk` tokens (all sequences in
  // each step's batch), then decodes `num_new` greedy tokens for all of them in one batch per
  // step. Returns the generated tokens per sequence (also appended to each sequence).
  absl::StatusOr<std::vector<std::vector<int32_t>>> Greedy(int32_t num_new, int32_t chunk);

  const std::vector<int32_t>& tokens(int32_t seq) const { return seqs_[seq].tokens; }
  int32_t cached(int32_t seq) const { return seqs_[seq].cached; }
  int32_t blocks_per_seq() const { return blocks_per_seq_; }
  int32_t num_sequences() const { return static_cast<int32_t>(seqs_.size()); }

 private:
  struct Seq {
    std::vector<int32_t> tokens;
    int32_t cached = 0;
    std::vector<int32_t> block_table;
  };

  Backend* backend_;
  int32_t block_size_;
  int32_t max_seqs_ = 0;
  int32_t max_len_ = 0;
  int32_t blocks_per_seq_ = 0;
  std::vector<Seq> seqs_;
  // seq id of each sequence of the last MakeBatch, for Commit.
  mutable std::vector<int32_t> last_batch_seqs_;
};

}  // namespace hearth::engine
