// The parser states of a Grammar, interned: a state is a sorted set of stack nodes, each node
// (position in Grammar::elements, parent node) one frame of a llama.cpp-style parse stack whose
// top element is a byte set. Interning makes every distinct stack a small integer, so a state is
// a short vector of ints (hashable: the mask cache's key), and the closure reached after a
// node's byte is computed once and cached (a lazily built pushdown automaton).
//
//   node 0 = accept (the root rule completed)         node k = {pos, parent}
//   a reference whose continuation is the end of its alternative reuses the caller's frame
//   (tail call), so `h ::= x h | ""` loops without growing the stack.
//
// Grammar::Build has rejected left recursion, so closures terminate.
//
// Thread-safety: not thread-safe (CompiledConstraint guards it with its mutex).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "engine/constraint/grammar.h"

namespace hearth::constraint {

class StackTable {
 public:
  static constexpr int32_t kAccept = 0;

  // REQUIRES: `grammar` outlives the table.
  explicit StackTable(const Grammar* grammar);

  // The closed start state: every byte-set frame reachable from the root's alternatives.
  std::vector<int32_t> Initial();
  // `to` = the state after `byte` from `from` (sorted, unique); empty when rejected.
  void Advance(const std::vector<int32_t>& from, uint8_t byte, std::vector<int32_t>* to);
  // True when some byte set of `state` (ignoring accept) holds `byte`.
  bool AcceptsByte(const std::vector<int32_t>& state, uint8_t byte) const;

  size_t num_nodes() const { return nodes_.size(); }

  // Interned states with memoized byte transitions (a lazily built DFA over the states the
  // trie walks meet): the mask computation's inner loop is one table lookup per trie node.
  // Ids stay valid until ClearStates().
  static constexpr int32_t kRejected = -1;
  int32_t InternState(const std::vector<int32_t>& state);
  // The id of the state after `byte` from state `id`, or kRejected.
  int32_t Step(int32_t id, uint8_t byte);
  size_t num_states() const { return states_.size(); }
  // Forgets the interned states and transitions (bounds memory; nodes are kept).
  void ClearStates();

 private:
  struct Node {
    int32_t pos;     // into grammar_->elements; -1 for accept
    int32_t parent;  // node to continue with when this frame's alternative ends
    int32_t set;     // byte set of elements[pos] when it is kBytes, else -1
  };

  int32_t Intern(int32_t pos, int32_t parent);
  // Appends the byte-set frames (and kAccept) reachable from `node` without consuming a byte.
  void Close(int32_t node, std::vector<int32_t>* out);
  // The closed state after `node` consumed a byte of its set (cached per node).
  const std::vector<int32_t>& Successors(int32_t node);

  const Grammar* grammar_;
  std::vector<Node> nodes_;
  absl::flat_hash_map<uint64_t, int32_t> index_;  // (pos, parent) -> node
  std::vector<std::vector<int32_t>> successors_;
  std::vector<bool> successors_done_;
  std::vector<int32_t> dfs_;
  absl::flat_hash_set<int32_t> visited_;

  std::vector<std::vector<int32_t>> states_;
  absl::flat_hash_map<std::vector<int32_t>, int32_t> state_index_;
  // [states_.size()][256] next state id; kUnknown until computed.
  static constexpr int32_t kUnknown = -2;
  std::vector<std::array<int32_t, 256>> transitions_;
  std::vector<int32_t> scratch_;
};

}  // namespace hearth::constraint
