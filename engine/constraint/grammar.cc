#include "engine/constraint/grammar.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hearth::constraint {
namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;
constexpr uint32_t kSurrogateLo = 0xD800;
constexpr uint32_t kSurrogateHi = 0xDFFF;

int EncodeUtf8(uint32_t cp, uint8_t* out) {
  if (cp < 0x80) {
    out[0] = static_cast<uint8_t>(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = static_cast<uint8_t>(0xC0 | (cp >> 6));
    out[1] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<uint8_t>(0xE0 | (cp >> 12));
    out[1] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<uint8_t>(0xF0 | (cp >> 18));
  out[1] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
  return 4;
}

// Splits [lo, hi] (no surrogates) into ranges whose UTF-8 encodings are a sequence of byte
// ranges, one per position (the classic utf8-ranges construction, as in RE2 and Rust's regex).
void SplitUtf8(uint32_t lo, uint32_t hi,
               std::vector<std::vector<std::pair<uint8_t, uint8_t>>>& out) {
  for (uint32_t max : {0x7Fu, 0x7FFu, 0xFFFFu}) {
    if (lo <= max && max < hi) {
      SplitUtf8(lo, max, out);
      SplitUtf8(max + 1, hi, out);
      return;
    }
  }
  uint8_t a[4], b[4];
  const int n = EncodeUtf8(lo, a);
  for (int i = 1; i < n; ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        SplitUtf8(lo, lo | m, out);
        SplitUtf8((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        SplitUtf8(lo, (hi & ~m) - 1, out);
        SplitUtf8(hi & ~m, hi, out);
        return;
      }
    }
  }
  EncodeUtf8(hi, b);
  std::vector<std::pair<uint8_t, uint8_t>> seq;
  for (int i = 0; i < n; ++i) seq.emplace_back(a[i], b[i]);
  out.push_back(std::move(seq));
}

std::string ByteSetText(const ByteSet& s) {
  std::string out = "[";
  for (int b = 0; b < 256; ++b) {
    if (!s.Has(static_cast<uint8_t>(b))) continue;
    int e = b;
    while (e + 1 < 256 && s.Has(static_cast<uint8_t>(e + 1))) ++e;
    auto one = [](int c) {
      return (c >= 0x21 && c < 0x7F && c != ']' && c != '\\' && c != '-')
                 ? std::string(1, static_cast<char>(c))
                 : absl::StrFormat("\\x%02X", c);
    };
    absl::StrAppend(&out, one(b));
    if (e > b) absl::StrAppend(&out, "-", one(e));
    b = e;
  }
  return out + "]";
}

struct ByteSetHash {
  size_t operator()(const ByteSet& s) const {
    return absl::HashOf(s.bits[0], s.bits[1], s.bits[2], s.bits[3]);
  }
};

class Flattener {
 public:
  Flattener(std::vector<std::string> names, std::vector<Expr> bodies) : bodies_(std::move(bodies)) {
    for (auto& n : names) grammar_.rules.push_back(Rule{std::move(n), {}});
  }

  absl::StatusOr<Grammar> Run(int32_t root) && {
    grammar_.root = root;
    for (size_t r = 0; r < bodies_.size(); ++r) pending_.emplace_back(r, std::move(bodies_[r]));
    while (!pending_.empty()) {
      auto [rule, body] = std::move(pending_.back());
      pending_.pop_back();
      if (absl::Status st = FlattenBody(rule, body); !st.ok()) return st;
    }
    return std::move(grammar_);
  }

 private:
  int32_t SetIndex(const ByteSet& s) {
    auto [it, inserted] =
        set_index_.try_emplace(s, static_cast<int32_t>(grammar_.byte_sets.size()));
    if (inserted) grammar_.byte_sets.push_back(s);
    return it->second;
  }

  int32_t Helper(int32_t parent, Expr body) {
    const int32_t id = static_cast<int32_t>(grammar_.rules.size());
    grammar_.rules.push_back(Rule{absl::StrCat(grammar_.rules[parent].name, "-", ++helpers_), {}});
    pending_.emplace_back(id, std::move(body));
    return id;
  }

  absl::Status FlattenBody(int32_t rule, const Expr& body) {
    std::vector<const Expr*> alts;
    CollectAlts(body, alts);
    for (const Expr* alt : alts) {
      std::vector<Element> seq;
      if (absl::Status st = FlattenSeq(rule, *alt, seq); !st.ok()) return st;
      grammar_.rules[rule].alternatives.push_back(static_cast<int32_t>(grammar_.elements.size()));
      grammar_.elements.insert(grammar_.elements.end(), seq.begin(), seq.end());
      grammar_.elements.push_back(Element{Element::Kind::kEnd, -1});
      if (static_cast<int64_t>(grammar_.elements.size()) > kMaxGrammarElements) return TooBig();
    }
    return absl::OkStatus();
  }

  static void CollectAlts(const Expr& e, std::vector<const Expr*>& out) {
    if (e.kind == Expr::Kind::kAlt) {
      for (const Expr& c : e.children) CollectAlts(c, out);
    } else {
      out.push_back(&e);
    }
  }

  absl::Status TooBig() const {
    return absl::InvalidArgumentError(
        absl::StrCat("the grammar is too large (over ", kMaxGrammarElements,
                     " elements): lower the repetition counts (maxLength, maxItems, {n,m})"));
  }

  // An expression usable as one element: a byte set or a reference.
  Expr Atom(int32_t rule, const Expr& e) {
    if (e.kind == Expr::Kind::kBytes || e.kind == Expr::Kind::kRef) return e;
    return Expr::Ref(Helper(rule, e));
  }

  absl::Status FlattenSeq(int32_t rule, const Expr& e, std::vector<Element>& seq) {
    if (static_cast<int64_t>(seq.size() + grammar_.elements.size()) > kMaxGrammarElements) {
      return TooBig();
    }
    switch (e.kind) {
      case Expr::Kind::kEmpty:
        return absl::OkStatus();
      case Expr::Kind::kBytes:
        seq.push_back(Element{Element::Kind::kBytes, SetIndex(e.bytes)});
        return absl::OkStatus();
      case Expr::Kind::kRef:
        seq.push_back(Element{Element::Kind::kRef, e.rule});
        return absl::OkStatus();
      case Expr::Kind::kSeq:
        for (const Expr& c : e.children) {
          if (absl::Status st = FlattenSeq(rule, c, seq); !st.ok()) return st;
        }
        return absl::OkStatus();
      case Expr::Kind::kAlt:
        if (e.children.size() == 1) return FlattenSeq(rule, e.children[0], seq);
        seq.push_back(Element{Element::Kind::kRef, Helper(rule, e)});
        return absl::OkStatus();
      case Expr::Kind::kRepeat: {
        const Expr atom = Atom(rule, e.children[0]);
        for (int32_t i = 0; i < e.min; ++i) {
          if (absl::Status st = FlattenSeq(rule, atom, seq); !st.ok()) return st;
        }
        if (e.max == Expr::kUnbounded) {
          // h ::= atom h | ""  (right recursion: constant stack depth in the matcher)
          const int32_t h = static_cast<int32_t>(grammar_.rules.size());
          grammar_.rules.push_back(
              Rule{absl::StrCat(grammar_.rules[rule].name, "-", ++helpers_), {}});
          pending_.emplace_back(h, Expr::Alt({Expr::Seq({atom, Expr::Ref(h)}), Expr::Empty()}));
          seq.push_back(Element{Element::Kind::kRef, h});
        } else if (e.max > e.min) {
          // o1 ::= atom | "";  ok ::= atom o(k-1) | ""
          int32_t prev = -1;
          for (int32_t k = 1; k <= e.max - e.min; ++k) {
            Expr first = prev < 0 ? atom : Expr::Seq({atom, Expr::Ref(prev)});
            prev = Helper(rule, Expr::Alt({std::move(first), Expr::Empty()}));
            if (static_cast<int64_t>(grammar_.rules.size()) * 4 > kMaxGrammarElements) {
              return TooBig();
            }
          }
          seq.push_back(Element{Element::Kind::kRef, prev});
        }
        return absl::OkStatus();
      }
    }
    return absl::OkStatus();
  }

  Grammar grammar_;
  std::vector<Expr> bodies_;
  std::vector<std::pair<int32_t, Expr>> pending_;
  absl::flat_hash_map<ByteSet, int32_t, ByteSetHash> set_index_;
  int32_t helpers_ = 0;
};

// Rejects cycles of left-edge references that grow the matcher's stack (a reference whose
// continuation is not the end of its alternative). Tail-only cycles terminate (the matcher
// reuses the caller's frame and sees the same stack node again).
absl::Status CheckLeftRecursion(const Grammar& g) {
  const size_t n = g.rules.size();
  std::vector<bool> nullable(n, false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; ++r) {
      if (nullable[r]) continue;
      for (int32_t start : g.rules[r].alternatives) {
        bool all = true;
        for (int32_t p = start; g.elements[p].kind != Element::Kind::kEnd; ++p) {
          const Element& e = g.elements[p];
          if (e.kind == Element::Kind::kBytes || !nullable[e.arg]) {
            all = false;
            break;
          }
        }
        if (all) {
          nullable[r] = changed = true;
          break;
        }
      }
    }
  }
  struct Edge {
    int32_t to;
    bool grows;
  };
  std::vector<std::vector<Edge>> edges(n);
  for (size_t r = 0; r < n; ++r) {
    for (int32_t start : g.rules[r].alternatives) {
      for (int32_t p = start; g.elements[p].kind == Element::Kind::kRef; ++p) {
        const int32_t to = g.elements[p].arg;
        edges[r].push_back({to, g.elements[p + 1].kind != Element::Kind::kEnd});
        if (!nullable[to]) break;
      }
    }
  }
  std::vector<int32_t> seen(n, -1);
  for (size_t a = 0; a < n; ++a) {
    for (const Edge& e : edges[a]) {
      if (!e.grows) continue;
      // Is `a` reachable from e.to?
      std::vector<int32_t> stack = {e.to};
      const int32_t mark = static_cast<int32_t>(a);
      while (!stack.empty()) {
        const int32_t x = stack.back();
        stack.pop_back();
        if (x == mark) {
          return absl::InvalidArgumentError(
              absl::StrCat("rule '", g.rules[a].name,
                           "' is left-recursive (it can reach itself without consuming input)"));
        }
        if (seen[x] == mark) continue;
        seen[x] = mark;
        for (const Edge& f : edges[x]) stack.push_back(f.to);
      }
    }
  }
  return absl::OkStatus();
}

// Rejects a root that derives no string at all (e.g. `a ::= a`, or an empty class).
absl::Status CheckProductive(const Grammar& g) {
  std::vector<bool> productive(g.rules.size(), false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < g.rules.size(); ++r) {
      if (productive[r]) continue;
      for (int32_t start : g.rules[r].alternatives) {
        bool all = true;
        for (int32_t p = start; all && g.elements[p].kind != Element::Kind::kEnd; ++p) {
          const Element& e = g.elements[p];
          all = e.kind == Element::Kind::kBytes ? !g.byte_sets[e.arg].Empty() : productive[e.arg];
        }
        if (all) {
          productive[r] = changed = true;
          break;
        }
      }
    }
  }
  if (productive[g.root]) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("rule '", g.rules[g.root].name, "' matches no string at all"));
}

}  // namespace

Expr Expr::Bytes(ByteSet set) {
  Expr e;
  e.kind = Kind::kBytes;
  e.bytes = set;
  return e;
}

Expr Expr::Literal(std::string_view text) {
  std::vector<Expr> seq;
  for (char c : text) seq.push_back(Byte(static_cast<uint8_t>(c)));
  return Seq(std::move(seq));
}

Expr Expr::Ref(int32_t rule) {
  Expr e;
  e.kind = Kind::kRef;
  e.rule = rule;
  return e;
}

Expr Expr::Seq(std::vector<Expr> children) {
  if (children.size() == 1) return std::move(children[0]);
  Expr e;
  e.kind = children.empty() ? Kind::kEmpty : Kind::kSeq;
  e.children = std::move(children);
  return e;
}

Expr Expr::Alt(std::vector<Expr> children) {
  if (children.size() == 1) return std::move(children[0]);
  Expr e;
  e.kind = Kind::kAlt;
  e.children = std::move(children);
  return e;
}

Expr Expr::Repeat(Expr child, int32_t min, int32_t max) {
  if (min == 1 && max == 1) return child;
  if (max == 0) return Empty();
  Expr e;
  e.kind = Kind::kRepeat;
  e.min = min;
  e.max = max;
  e.children.push_back(std::move(child));
  return e;
}

std::vector<CodePointRange> NormalizeRanges(std::vector<CodePointRange> ranges) {
  std::vector<CodePointRange> in;
  for (CodePointRange r : ranges) {
    if (r.lo > r.hi || r.lo > kMaxCodePoint) continue;
    r.hi = std::min(r.hi, kMaxCodePoint);
    // Cut out the surrogates.
    if (r.lo <= kSurrogateHi && r.hi >= kSurrogateLo) {
      if (r.lo < kSurrogateLo) in.push_back({r.lo, kSurrogateLo - 1});
      if (r.hi > kSurrogateHi) in.push_back({kSurrogateHi + 1, r.hi});
    } else {
      in.push_back(r);
    }
  }
  std::sort(in.begin(), in.end(),
            [](const CodePointRange& a, const CodePointRange& b) { return a.lo < b.lo; });
  std::vector<CodePointRange> out;
  for (const CodePointRange& r : in) {
    if (!out.empty() && r.lo <= out.back().hi + 1) {
      out.back().hi = std::max(out.back().hi, r.hi);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

std::vector<CodePointRange> ComplementRanges(const std::vector<CodePointRange>& ranges) {
  const std::vector<CodePointRange> norm = NormalizeRanges(ranges);
  std::vector<CodePointRange> out;
  uint32_t next = 0;
  for (const CodePointRange& r : norm) {
    if (r.lo > next) out.push_back({next, r.lo - 1});
    next = r.hi + 1;
  }
  if (next <= kMaxCodePoint) out.push_back({next, kMaxCodePoint});
  return NormalizeRanges(std::move(out));
}

Expr Expr::CodePoints(std::vector<CodePointRange> ranges) {
  ByteSet ascii;
  std::vector<Expr> alts;
  for (const CodePointRange& r : NormalizeRanges(std::move(ranges))) {
    std::vector<std::vector<std::pair<uint8_t, uint8_t>>> seqs;
    SplitUtf8(r.lo, r.hi, seqs);
    for (const auto& s : seqs) {
      if (s.size() == 1) {
        for (int b = s[0].first; b <= s[0].second; ++b) ascii.Add(static_cast<uint8_t>(b));
        continue;
      }
      std::vector<Expr> seq;
      for (auto [lo, hi] : s) seq.push_back(Bytes(ByteSet::Range(lo, hi)));
      alts.push_back(Seq(std::move(seq)));
    }
  }
  // An empty byte set matches nothing, which is what an empty class means.
  if (!ascii.Empty() || alts.empty()) alts.insert(alts.begin(), Bytes(ascii));
  return Alt(std::move(alts));
}

std::string Grammar::ToString() const {
  std::string out;
  for (const Rule& r : rules) {
    absl::StrAppend(&out, r.name, " ::=");
    for (size_t a = 0; a < r.alternatives.size(); ++a) {
      if (a > 0) absl::StrAppend(&out, " |");
      for (int32_t p = r.alternatives[a]; elements[p].kind != Element::Kind::kEnd; ++p) {
        const Element& e = elements[p];
        absl::StrAppend(
            &out, " ",
            e.kind == Element::Kind::kBytes ? ByteSetText(byte_sets[e.arg]) : rules[e.arg].name);
      }
      if (elements[r.alternatives[a]].kind == Element::Kind::kEnd) absl::StrAppend(&out, " \"\"");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

int32_t GrammarBuilder::DeclareRule(std::string name) {
  names_.push_back(std::move(name));
  bodies_.emplace_back();
  has_body_.push_back(false);
  return static_cast<int32_t>(names_.size()) - 1;
}

void GrammarBuilder::SetBody(int32_t rule, Expr body) {
  bodies_[rule] = std::move(body);
  has_body_[rule] = true;
}

absl::StatusOr<Grammar> GrammarBuilder::Build(int32_t root) && {
  for (size_t r = 0; r < names_.size(); ++r) {
    if (!has_body_[r]) {
      return absl::InvalidArgumentError(absl::StrCat("rule '", names_[r], "' is not defined"));
    }
  }
  absl::StatusOr<Grammar> g = Flattener(std::move(names_), std::move(bodies_)).Run(root);
  if (!g.ok()) return g;
  if (absl::Status st = CheckLeftRecursion(*g); !st.ok()) return st;
  if (absl::Status st = CheckProductive(*g); !st.ok()) return st;
  return g;
}

}  // namespace hearth::constraint
