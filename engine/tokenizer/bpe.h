// The two BPE models behind `Tokenizer`, each working on one pre-tokenized piece of text.
//
//   ByteLevelBpe      (tokenizer.ggml.model "gpt2"): bytes are mapped to GPT-2's printable
//                     code points, then adjacent symbols merge by rank (lowest first,
//                     leftmost on ties), as HF tokenizers' BPE does.
//   SentencePieceBpe  (tokenizer.ggml.model "llama"): the text (spaces already U+2581) is split
//                     into characters; adjacent symbols whose concatenation is a vocab piece
//                     merge, highest piece score first (then lowest piece id, then leftmost);
//                     characters not in the vocab become <0xXX> byte tokens, or the unknown
//                     token (consecutive unknowns fused) when byte tokens are missing.
//
// Thread-safety: both are immutable after Create() except ByteLevelBpe's word cache, which is
// behind a mutex; Encode* may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/tokenizer/tokenizer_spec.h"

namespace hearth::engine::tokenizer {

// Piece text -> id. Later duplicates do not override earlier ones.
using PieceMap = absl::flat_hash_map<std::string, TokenId>;

class ByteLevelBpe {
 public:
  // `tokens` and `merges` ("left right", rank order) as in TokenizerSpec. `pieces` must outlive
  // the model. `ignore_merges`: a word that is itself a vocab piece becomes that one token
  // (Llama 3's tokenizer.json, llama.cpp's LLAMA3 pre-type). InvalidArgument on a malformed
  // merge line.
  static absl::StatusOr<std::unique_ptr<ByteLevelBpe>> Create(
      const PieceMap* pieces, const std::vector<std::string>& merges, bool ignore_merges);

  // Appends the ids of one pre-tokenized word (raw bytes, any content).
  void EncodeWord(std::string_view word, std::vector<TokenId>& out) const;

  // Most distinct words the cache holds before it is cleared.
  static constexpr size_t kCacheCapacity = 1 << 16;

 private:
  ByteLevelBpe() = default;
  void EncodeUncached(std::string_view word, std::vector<TokenId>& out) const;

  struct Merge {
    int32_t rank;
    TokenId merged;
  };
  const PieceMap* pieces_ = nullptr;
  bool ignore_merges_ = false;
  TokenId byte_ids_[256];                        // id of each byte's mapped code point, or kNoToken
  absl::flat_hash_map<uint64_t, Merge> merges_;  // key: (left id << 32) | right id

  mutable absl::Mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, std::vector<TokenId>> cache_ ABSL_GUARDED_BY(cache_mu_);
};

class SentencePieceBpe {
 public:
  // `pieces` must outlive the model; `scores` is [vocab_size] (empty = all zero).
  static absl::StatusOr<std::unique_ptr<SentencePieceBpe>> Create(const PieceMap* pieces,
                                                                  const std::vector<float>& scores,
                                                                  TokenId unk_id);

  // Appends the ids of `text` (already in U+2581 form).
  void Encode(std::string_view text, std::vector<TokenId>& out) const;

 private:
  SentencePieceBpe() = default;
  const PieceMap* pieces_ = nullptr;
  std::vector<float> scores_;
  TokenId unk_id_ = kNoToken;
  TokenId byte_ids_[256];  // id of "<0xXX>", or kNoToken
};

}  // namespace hearth::engine::tokenizer
