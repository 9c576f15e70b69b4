// Helpers for the constraint tests: run a grammar over bytes, build small vocabularies.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/constraint/compiled_constraint.h"
#include "engine/constraint/grammar.h"
#include "engine/constraint/stack_table.h"
#include "engine/constraint/token_vocabulary.h"

namespace hearth::constraint::testing {

// True when `grammar` accepts exactly `text` (the whole string).
inline bool Accepts(const Grammar& grammar, std::string_view text) {
  StackTable table(&grammar);
  std::vector<int32_t> state = table.Initial(), next;
  for (char c : text) {
    table.Advance(state, static_cast<uint8_t>(c), &next);
    state.swap(next);
    if (state.empty()) return false;
  }
  return !state.empty() && state[0] == StackTable::kAccept;
}

// True when `text` is a prefix of some string `grammar` accepts... as far as the parser can
// tell (every byte was accepted).
inline bool AcceptsPrefix(const Grammar& grammar, std::string_view text) {
  StackTable table(&grammar);
  std::vector<int32_t> state = table.Initial(), next;
  for (char c : text) {
    table.Advance(state, static_cast<uint8_t>(c), &next);
    state.swap(next);
    if (state.empty()) return false;
  }
  return true;
}

// Every single byte as a token (ids 0-255), then `extra` multi-byte tokens, then one special
// token with no bytes (the "EOS").
inline std::shared_ptr<const TokenVocabulary> ByteVocabulary(
    const std::vector<std::string>& extra) {
  std::vector<std::string> bytes;
  for (int b = 0; b < 256; ++b) bytes.push_back(std::string(1, static_cast<char>(b)));
  bytes.insert(bytes.end(), extra.begin(), extra.end());
  bytes.push_back("");
  return TokenVocabulary::Create(std::move(bytes));
}

}  // namespace hearth::constraint::testing
