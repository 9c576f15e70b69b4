#include "engine/testing/sequence_runner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace hearth::engine {

absl::Status SequenceRunner::Init(int32_t max_seqs, int32_t max_len, int32_t host_blocks) {
  max_seqs_ = max_seqs;
  max_len_ = max_len;
  blocks_per_seq_ = (max_len + block_size_ - 1) / block_size_;
  seqs_.clear();
  return backend_->InitKvCache(max_seqs * blocks_per_seq_, host_blocks, block_size_);
}

int32_t SequenceRunner::Add(std::vector<int32_t> tokens, std::vector<int32_t> block_table) {
  const int32_t id = static_cast<int32_t>(seqs_.size());
  if (block_table.empty()) {
    for (int32_t b = 0; b < blocks_per_seq_; ++b) block_table.push_back(id * blocks_per_seq_ + b);
  }
  seqs_.push_back({std::move(tokens), 0, std::move(block_table)});
  return id;
}

absl::StatusOr<Batch> SequenceRunner::MakeBatch(
    const std::vector<std::pair<int32_t, int32_t>>& work) const {
  Batch batch;
  last_batch_seqs_.clear();
  for (const auto& [id, n] : work) {
    if (id < 0 || id >= num_sequences()) {
      return absl::InvalidArgumentError(absl::StrCat("no sequence ", id));
    }
    const Seq& s = seqs_[id];
    const int32_t uncached = static_cast<int32_t>(s.tokens.size()) - s.cached;
    if (n <= 0 || n > uncached || s.cached + n > max_len_) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", id, ": cannot run ", n,
                                                     " tokens (", uncached, " uncached, max_len ",
                                                     max_len_, ")"));
    }
    BatchSequence bs;
    bs.token_begin = batch.num_tokens();
    bs.num_tokens = n;
    bs.context_len = s.cached + n;
    bs.block_table = s.block_table;
    bs.sample = n == uncached;
    for (int32_t j = 0; j < n; ++j) {
      batch.tokens.push_back(s.tokens[s.cached + j]);
      batch.positions.push_back(s.cached + j);
    }
    batch.sequences.push_back(std::move(bs));
    last_batch_seqs_.push_back(id);
  }
  return batch;
}

void SequenceRunner::Commit(const Batch& batch) {
  for (size_t i = 0; i < batch.sequences.size() && i < last_batch_seqs_.size(); ++i) {
    seqs_[last_batch_seqs_[i]].cached = batch.sequences[i].context_len;
  }
}

absl::StatusOr<std::vector<std::vector<int32_t>>> SequenceRunner::Greedy(int32_t num_new,
                                                                         int32_t chunk) {
  const int32_t vocab = backend_->vocab_size();
  std::vector<std::vector<int32_t>> generated(seqs_.size());
  std::vector<float> logits;
  // Each step: every sequence with uncached tokens contributes its next chunk; a sequence that
  // samples gets the argmax appended (until it has num_new new tokens).
  while (true) {
    std::vector<std::pair<int32_t, int32_t>> work;
    for (int32_t id = 0; id < num_sequences(); ++id) {
      const int32_t uncached = static_cast<int32_t>(seqs_[id].tokens.size()) - seqs_[id].cached;
      if (uncached > 0) work.push_back({id, std::min(uncached, chunk)});
    }
    if (work.empty()) break;
    ASSIGN_OR_RETURN(Batch batch, MakeBatch(work));
    RETURN_IF_ERROR(backend_->Forward(batch, &logits));
    Commit(batch);
    int32_t row = 0;
    for (size_t i = 0; i < batch.sequences.size(); ++i) {
      if (!batch.sequences[i].sample) continue;
      const float* l = &logits[int64_t{row++} * vocab];
      const int32_t id = work[i].first;
      if (static_cast<int32_t>(generated[id].size()) < num_new) {
        const int32_t tok = static_cast<int32_t>(std::max_element(l, l + vocab) - l);
        generated[id].push_back(tok);
        Append(id, tok);
      }
    }
  }
  return generated;
}

}  // namespace hearth::engine
