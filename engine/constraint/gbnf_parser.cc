#include "engine/constraint/gbnf_parser.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/constraint/text_util.h"

namespace hearth::constraint {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

class GbnfParser {
 public:
  explicit GbnfParser(std::string_view text) : text_(text) {}

  absl::StatusOr<Grammar> Parse() {
    SkipSpace(/*newlines=*/true);
    while (pos_ < text_.size()) {
      if (absl::Status st = ParseRule(); !st.ok()) return st;
      SkipSpace(true);
    }
    auto root = rules_.find("root");
    if (root == rules_.end() || !builder_.HasBody(root->second)) {
      return absl::InvalidArgumentError(
          "grammar: no `root` rule (the start rule must be named root)");
    }
    for (const auto& [name, rule] : rules_) {
      if (!builder_.HasBody(rule)) {
        return ErrorAt(first_use_[name], absl::StrCat("rule '", name, "' is used but not defined"));
      }
    }
    absl::StatusOr<Grammar> g = std::move(builder_).Build(root->second);
    if (!g.ok()) return absl::InvalidArgumentError(absl::StrCat("grammar: ", g.status().message()));
    return g;
  }

 private:
  absl::Status ErrorAt(size_t at, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("grammar: ", LineColumn(text_, at), ": ", what));
  }
  absl::Status Error(absl::string_view what) const { return ErrorAt(pos_, what); }

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }

  void SkipSpace(bool newlines) {
    while (!AtEnd()) {
      const char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) {
        ++pos_;
      } else if (c == '#') {
        while (!AtEnd() && text_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  int32_t RuleId(const std::string& name, size_t at) {
    auto [it, inserted] = rules_.try_emplace(name, -1);
    if (inserted) {
      it->second = builder_.DeclareRule(name);
      first_use_[name] = at;
    }
    return it->second;
  }

  std::string ParseName() {
    const size_t start = pos_;
    while (!AtEnd() && IsNameChar(text_[pos_])) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  absl::Status ParseRule() {
    const size_t start = pos_;
    const std::string name = ParseName();
    if (name.empty()) return Error("expected a rule name");
    SkipSpace(false);
    if (text_.substr(pos_, 3) != "::=") return Error("expected '::=' after the rule name");
    pos_ += 3;
    SkipSpace(true);
    const int32_t id = RuleId(name, start);
    if (builder_.HasBody(id))
      return ErrorAt(start, absl::StrCat("rule '", name, "' is defined twice"));
    absl::StatusOr<Expr> body = ParseAlternatives(/*nested=*/false);
    if (!body.ok()) return body.status();
    builder_.SetBody(id, *std::move(body));
    SkipSpace(false);
    if (!AtEnd() && Peek() != '\n') return Error("expected the end of the line after the rule");
    return absl::OkStatus();
  }

  absl::StatusOr<Expr> ParseAlternatives(bool nested) {
    std::vector<Expr> alts;
    for (;;) {
      absl::StatusOr<Expr> seq = ParseSequence(nested);
      if (!seq.ok()) return seq.status();
      alts.push_back(*std::move(seq));
      if (Peek() != '|') break;
      ++pos_;
      SkipSpace(true);
    }
    return Expr::Alt(std::move(alts));
  }

  absl::StatusOr<Expr> ParseSequence(bool nested) {
    std::vector<Expr> seq;
    for (;;) {
      SkipSpace(nested);
      const char c = Peek();
      if (AtEnd() || c == '|' || c == ')' || c == '\n') break;
      absl::StatusOr<Expr> term = ParseTerm();
      if (!term.ok()) return term.status();
      SkipSpace(nested);
      absl::StatusOr<Expr> rep = ParsePostfix(*std::move(term));
      if (!rep.ok()) return rep.status();
      seq.push_back(*std::move(rep));
    }
    return Expr::Seq(std::move(seq));
  }

  absl::StatusOr<Expr> ParsePostfix(Expr term) {
    for (;;) {
      const char c = Peek();
      int32_t min = 0, max = 0;
      if (c == '*') {
        min = 0, max = Expr::kUnbounded;
        ++pos_;
      } else if (c == '+') {
        min = 1, max = Expr::kUnbounded;
        ++pos_;
      } else if (c == '?') {
        min = 0, max = 1;
        ++pos_;
      } else if (c == '{') {
        absl::StatusOr<std::pair<int32_t, int32_t>> b = ParseBraces(text_, pos_);
        if (!b.ok()) return ErrorAt(pos_, b.status().message());
        min = b->first, max = b->second;
      } else {
        return term;
      }
      term = Expr::Repeat(std::move(term), min, max);
      SkipSpace(false);
    }
  }

  absl::StatusOr<Expr> ParseTerm() {
    const size_t start = pos_;
    const char c = Peek();
    if (c == '"') {
      ++pos_;
      std::string bytes;
      while (!AtEnd() && Peek() != '"') {
        if (Peek() == '\n') return Error("unterminated string literal");
        absl::StatusOr<uint32_t> cp = ReadChar();
        if (!cp.ok()) return cp.status();
        AppendUtf8(*cp, &bytes);
      }
      if (AtEnd()) return ErrorAt(start, "unterminated string literal");
      ++pos_;
      return Expr::Literal(bytes);
    }
    if (c == '[') {
      ++pos_;
      const bool negated = Peek() == '^';
      if (negated) ++pos_;
      std::vector<CodePointRange> ranges;
      while (!AtEnd() && Peek() != ']') {
        if (Peek() == '\n') return Error("unterminated character class");
        absl::StatusOr<uint32_t> lo = ReadChar();
        if (!lo.ok()) return lo.status();
        uint32_t hi = *lo;
        if (Peek() == '-' && pos_ + 1 < text_.size() && text_[pos_ + 1] != ']') {
          ++pos_;
          absl::StatusOr<uint32_t> h = ReadChar();
          if (!h.ok()) return h.status();
          hi = *h;
          if (hi < *lo) return Error("character range is out of order");
        }
        ranges.push_back({*lo, hi});
      }
      if (AtEnd()) return ErrorAt(start, "unterminated character class");
      ++pos_;
      return Expr::CodePoints(negated ? ComplementRanges(ranges) : ranges);
    }
    if (c == '(') {
      if (++depth_ > kMaxNesting) return Error("parentheses nested too deeply");
      ++pos_;
      SkipSpace(true);
      absl::StatusOr<Expr> inner = ParseAlternatives(/*nested=*/true);
      if (!inner.ok()) return inner.status();
      SkipSpace(true);
      if (Peek() != ')') return Error("expected ')'");
      ++pos_;
      --depth_;
      return inner;
    }
    if (c == '.') {
      ++pos_;
      return Expr::CodePoints({{0, 0x10FFFF}});
    }
    if (IsNameChar(c)) {
      const std::string name = ParseName();
      return Expr::Ref(RuleId(name, start));
    }
    return Error(absl::StrCat("unexpected character '", std::string(1, c), "'"));
  }

  // One character of a literal or class: an escape or one UTF-8 code point.
  absl::StatusOr<uint32_t> ReadChar() {
    if (Peek() != '\\') {
      absl::StatusOr<uint32_t> cp = DecodeUtf8(text_, pos_);
      if (!cp.ok()) return Error(cp.status().message());
      return cp;
    }
    const size_t at = pos_;
    ++pos_;
    if (AtEnd()) return ErrorAt(at, "incomplete escape");
    const char e = text_[pos_++];
    switch (e) {
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case '\\':
      case '"':
      case '[':
      case ']':
      case '-':
      case '^':
      case '/':
        return static_cast<uint32_t>(e);
      case 'x':
      case 'u':
      case 'U': {
        const int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        absl::StatusOr<uint32_t> v = ReadHex(text_, pos_, digits);
        if (!v.ok()) return ErrorAt(at, v.status().message());
        return v;
      }
      default:
        return ErrorAt(at, absl::StrCat("unknown escape '\\", std::string(1, e), "'"));
    }
  }

  static constexpr int kMaxNesting = 100;

  std::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
  GrammarBuilder builder_;
  absl::flat_hash_map<std::string, int32_t> rules_;
  absl::flat_hash_map<std::string, size_t> first_use_;
};

}  // namespace

absl::StatusOr<Grammar> ParseGbnf(std::string_view text) { return GbnfParser(text).Parse(); }

}  // namespace hearth::constraint
