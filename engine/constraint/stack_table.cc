#include "engine/constraint/stack_table.h"

#include <algorithm>

namespace hearth::constraint {
namespace {

void SortUnique(std::vector<int32_t>* v) {
  if (v->size() < 2) return;
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

}  // namespace

StackTable::StackTable(const Grammar* grammar) : grammar_(grammar) {
  nodes_.push_back(Node{-1, -1, -1});  // kAccept
  successors_.emplace_back();
  successors_done_.push_back(true);
}

int32_t StackTable::Intern(int32_t pos, int32_t parent) {
  const uint64_t key =
      (static_cast<uint64_t>(static_cast<uint32_t>(pos)) << 32) | static_cast<uint32_t>(parent);
  auto [it, inserted] = index_.try_emplace(key, static_cast<int32_t>(nodes_.size()));
  if (inserted) {
    const Element& e = grammar_->elements[pos];
    nodes_.push_back(Node{pos, parent, e.kind == Element::Kind::kBytes ? e.arg : -1});
    successors_.emplace_back();
    successors_done_.push_back(false);
  }
  return it->second;
}

void StackTable::Close(int32_t node, std::vector<int32_t>* out) {
  visited_.clear();
  dfs_.clear();
  dfs_.push_back(node);
  while (!dfs_.empty()) {
    const int32_t n = dfs_.back();
    dfs_.pop_back();
    if (!visited_.insert(n).second) continue;
    if (n == kAccept) {
      out->push_back(kAccept);
      continue;
    }
    const Node nd = nodes_[n];
    const Element& e = grammar_->elements[nd.pos];
    switch (e.kind) {
      case Element::Kind::kBytes:
        out->push_back(n);
        break;
      case Element::Kind::kEnd:
        dfs_.push_back(nd.parent);
        break;
      case Element::Kind::kRef: {
        const int32_t cont = grammar_->elements[nd.pos + 1].kind == Element::Kind::kEnd
                                 ? nd.parent
                                 : Intern(nd.pos + 1, nd.parent);
        for (int32_t alt : grammar_->rules[e.arg].alternatives) dfs_.push_back(Intern(alt, cont));
        break;
      }
    }
  }
}

std::vector<int32_t> StackTable::Initial() {
  std::vector<int32_t> out;
  for (int32_t alt : grammar_->rules[grammar_->root].alternatives)
    Close(Intern(alt, kAccept), &out);
  SortUnique(&out);
  return out;
}

const std::vector<int32_t>& StackTable::Successors(int32_t node) {
  if (!successors_done_[node]) {
    const Node nd = nodes_[node];
    std::vector<int32_t> out;
    Close(Intern(nd.pos + 1, nd.parent), &out);
    SortUnique(&out);
    successors_[node] = std::move(out);  // Intern may have grown the vectors: index again.
    successors_done_[node] = true;
  }
  return successors_[node];
}

void StackTable::Advance(const std::vector<int32_t>& from, uint8_t byte, std::vector<int32_t>* to) {
  to->clear();
  size_t contributors = 0;
  for (int32_t n : from) {
    const int32_t set = nodes_[n].set;
    if (set < 0 || !grammar_->byte_sets[set].Has(byte)) continue;
    const std::vector<int32_t>& s = Successors(n);
    to->insert(to->end(), s.begin(), s.end());
    ++contributors;
  }
  if (contributors > 1) SortUnique(to);
}

int32_t StackTable::InternState(const std::vector<int32_t>& state) {
  if (state.empty()) return kRejected;
  auto [it, inserted] = state_index_.try_emplace(state, static_cast<int32_t>(states_.size()));
  if (inserted) {
    states_.push_back(state);
    transitions_.emplace_back();
    transitions_.back().fill(kUnknown);
  }
  return it->second;
}

int32_t StackTable::Step(int32_t id, uint8_t byte) {
  int32_t next = transitions_[id][byte];
  if (next != kUnknown) return next;
  Advance(states_[id], byte, &scratch_);
  next = InternState(scratch_);
  transitions_[id][byte] = next;  // InternState may have grown transitions_: index again
  return next;
}

void StackTable::ClearStates() {
  states_.clear();
  state_index_.clear();
  transitions_.clear();
}

bool StackTable::AcceptsByte(const std::vector<int32_t>& state, uint8_t byte) const {
  for (int32_t n : state) {
    const int32_t set = nodes_[n].set;
    if (set >= 0 && grammar_->byte_sets[set].Has(byte)) return true;
  }
  return false;
}

}  // namespace hearth::constraint
