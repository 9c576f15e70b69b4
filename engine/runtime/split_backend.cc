#include "engine/runtime/split_backend.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace hearth::engine {

absl::StatusOr<std::unique_ptr<SplitBackend>> SplitBackend::Create(const ModelConfig& config,
                                                                   std::vector<Stage> stages) {
  if (stages.empty()) return absl::InvalidArgumentError("a backend needs at least one stage");
  int32_t next = 0;
  for (size_t i = 0; i < stages.size(); ++i) {
    const LayerRange r = stages[i].graph->layers();
    if (r.begin != next || r.size() <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("stage ", i, " (", stages[i].ops->name(), ") covers layers [", r.begin, ", ",
                       r.end, "), expected a non-empty range starting at layer ", next,
                       ": the stages must cover every layer exactly once, in order"));
    }
    next = r.end;
  }
  if (next != config.num_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("the stages cover layers [0, ", next, ") of the model's ", config.num_layers));
  }
  return std::unique_ptr<SplitBackend>(new SplitBackend(config, std::move(stages)));
}

int64_t SplitBackend::KvBytesPerBlock(int32_t block_size) const {
  int64_t bytes = 0;
  for (const Stage& s : stages_) bytes += s.ops->KvBytesPerBlock(block_size);
  return bytes;
}

std::vector<StageMemoryInfo> SplitBackend::StageMemory(int32_t block_size) const {
  std::vector<StageMemoryInfo> out;
  for (const Stage& s : stages_) {
    StageMemoryInfo info;
    info.device = s.ops->name();
    info.first_layer = s.graph->layers().begin;
    info.end_layer = s.graph->layers().end;
    info.kv_bytes_per_block = s.ops->KvBytesPerBlock(block_size);
    info.memory = s.ops->Memory();
    info.budget_bytes = s.budget_bytes;
    info.host_memory = s.host_memory;
    out.push_back(std::move(info));
  }
  return out;
}

std::string SplitBackend::Describe() const {
  std::vector<std::string> parts;
  for (const Stage& s : stages_) {
    const LayerRange r = s.graph->layers();
    parts.push_back(absl::StrCat(s.ops->name(), "[", r.begin, "-", r.end - 1, "]"));
  }
  return absl::StrJoin(parts, " + ");
}

absl::Status SplitBackend::InitKvCache(int32_t num_blocks, int32_t num_host_blocks,
                                       int32_t block_size) {
  for (const Stage& s : stages_) {
    RETURN_IF_ERROR(s.ops->InitKvCache(num_blocks, num_host_blocks, block_size));
  }
  num_blocks_ = num_blocks;
  block_size_ = block_size;
  return absl::OkStatus();
}

absl::Status SplitBackend::CopyBlocks(const std::vector<std::pair<int32_t, int32_t>>& pairs) {
  if (pairs.empty()) return absl::OkStatus();
  for (const Stage& s : stages_) RETURN_IF_ERROR(s.ops->CopyBlocks(pairs));
  return absl::OkStatus();
}

absl::Status SplitBackend::SwapOut(const std::vector<std::pair<int32_t, int32_t>>& pairs) {
  if (pairs.empty()) return absl::OkStatus();
  for (const Stage& s : stages_) RETURN_IF_ERROR(s.ops->SwapOut(pairs));
  return absl::OkStatus();
}

absl::Status SplitBackend::SwapIn(const std::vector<std::pair<int32_t, int32_t>>& pairs) {
  if (pairs.empty()) return absl::OkStatus();
  for (const Stage& s : stages_) RETURN_IF_ERROR(s.ops->SwapIn(pairs));
  return absl::OkStatus();
}

absl::Status SplitBackend::Forward(const Batch& batch, std::vector<float>* logits) {
  RETURN_IF_ERROR(CheckBatch(batch));
  const int64_t n = batch.num_tokens();
  if (n == 0) {
    logits->clear();
    return absl::OkStatus();
  }
  logit_rows_.clear();
  for (const BatchSequence& s : batch.sequences) {
    if (s.all_logits) {
      for (int32_t j = 0; j < s.num_tokens; ++j) logit_rows_.push_back(s.token_begin + j);
    } else if (s.sample) {
      logit_rows_.push_back(s.token_begin + s.num_tokens - 1);
    }
  }
  for (size_t i = 0; i < stages_.size(); ++i) {
    StageIo io;
    if (i > 0) io.hidden_in = hidden_[(i - 1) % 2].data();
    if (i + 1 < stages_.size()) {
      std::vector<float>& out = hidden_[i % 2];
      out.resize(n * config_.dim);
      io.hidden_out = out.data();
    } else {
      io.logit_rows = logit_rows_;
      io.logits = logits;
    }
    RETURN_IF_ERROR(stages_[i].graph->Forward(batch, io));
  }
  return absl::OkStatus();
}

absl::Status SplitBackend::CheckBatch(const Batch& batch) const {
  if (num_blocks_ == 0) return absl::FailedPreconditionError("InitKvCache() was not called");
  const int32_t n = batch.num_tokens();
  if (static_cast<int32_t>(batch.positions.size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch has ", n, " tokens but ", batch.positions.size(), " positions"));
  }
  for (int32_t t = 0; t < n; ++t) {
    if (batch.tokens[t] < 0 || batch.tokens[t] >= config_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token ", batch.tokens[t], " at index ", t,
                                                     " is outside the vocabulary of ",
                                                     config_.vocab_size));
    }
  }
  const int32_t bs = block_size_;
  int32_t next = 0;
  for (size_t i = 0; i < batch.sequences.size(); ++i) {
    const BatchSequence& s = batch.sequences[i];
    auto bad = [&](auto&&... parts) {
      return absl::InvalidArgumentError(absl::StrCat("batch sequence ", i, ": ", parts...));
    };
    if (s.token_begin != next || s.num_tokens <= 0 || s.token_begin + s.num_tokens > n) {
      return bad("tokens [", s.token_begin, ", +", s.num_tokens,
                 ") do not follow the previous sequence back to back within ", n, " tokens");
    }
    next += s.num_tokens;
    if (s.context_len < s.num_tokens) {
      return bad("context_len ", s.context_len, " < num_tokens ", s.num_tokens);
    }
    const int64_t blocks_needed = (int64_t{s.context_len} + bs - 1) / bs;
    if (static_cast<int64_t>(s.block_table.size()) < blocks_needed) {
      return bad("block table has ", s.block_table.size(), " blocks, context ", s.context_len,
                 " needs ", blocks_needed);
    }
    for (int64_t b = 0; b < blocks_needed; ++b) {
      if (s.block_table[b] < 0 || s.block_table[b] >= num_blocks_) {
        return bad("block id ", s.block_table[b], " out of range [0, ", num_blocks_, ")");
      }
    }
    const int32_t start = s.context_len - s.num_tokens;
    for (int32_t j = 0; j < s.num_tokens; ++j) {
      if (batch.positions[s.token_begin + j] != start + j) {
        return bad("token ", j, " has position ", batch.positions[s.token_begin + j], ", expected ",
                   start + j, " (context_len - num_tokens + j)");
      }
    }
  }
  if (next != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("sequences cover ", next, " of the batch's ", n, " tokens"));
  }
  return absl::OkStatus();
}

}  // namespace hearth::engine
