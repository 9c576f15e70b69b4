#include "engine/constraint/regex_compiler.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/constraint/text_util.h"

namespace hearth::constraint {
namespace {

using Ranges = std::vector<CodePointRange>;

constexpr int kMaxNesting = 100;

const Ranges kDigit = {{'0', '9'}};
const Ranges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
const Ranges kSpace = {{'\t', '\r'}, {' ', ' '}};  // \t \n \v \f \r and space

// The ASCII characters outside `r`.
Ranges AsciiComplement(const Ranges& r) {
  Ranges out;
  for (const CodePointRange& c : ComplementRanges(r)) {
    if (c.lo <= 0x7F) out.push_back({c.lo, std::min<uint32_t>(c.hi, 0x7F)});
  }
  return out;
}

Ranges Intersect(const Ranges& a, const Ranges& b) {
  Ranges out;
  for (const CodePointRange& x : NormalizeRanges(a)) {
    for (const CodePointRange& y : NormalizeRanges(b)) {
      const uint32_t lo = std::max(x.lo, y.lo), hi = std::min(x.hi, y.hi);
      if (lo <= hi) out.push_back({lo, hi});
    }
  }
  return out;
}

class RegexParser {
 public:
  RegexParser(std::string_view pattern, const RegexOptions& options)
      : p_(pattern), options_(options) {}

  absl::StatusOr<Expr> Parse() {
    if (Peek() == '^') ++pos_;
    absl::StatusOr<Expr> e = ParseAlt(0);
    if (!e.ok()) return e;
    if (!AtEnd()) return Error(pos_, "unbalanced ')'");
    return e;
  }

 private:
  absl::Status Error(size_t at, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("offset ", at, ": ", what));
  }
  bool AtEnd() const { return pos_ >= p_.size(); }
  char Peek(size_t ahead = 0) const { return pos_ + ahead < p_.size() ? p_[pos_ + ahead] : '\0'; }

  Expr Chars(const Ranges& ranges) const {
    return options_.json_string ? JsonStringChars(ranges) : Expr::CodePoints(ranges);
  }

  absl::StatusOr<Expr> ParseAlt(int depth) {
    std::vector<Expr> alts;
    for (;;) {
      absl::StatusOr<Expr> seq = ParseSeq(depth);
      if (!seq.ok()) return seq;
      alts.push_back(*std::move(seq));
      if (Peek() != '|' || AtEnd()) break;
      ++pos_;
    }
    return Expr::Alt(std::move(alts));
  }

  absl::StatusOr<Expr> ParseSeq(int depth) {
    std::vector<Expr> seq;
    while (!AtEnd() && Peek() != '|' && Peek() != ')') {
      const size_t start = pos_;
      if (Peek() == '$') {
        ++pos_;
        if (!(AtEnd() && depth == 0)) return Error(start, "'$' is only supported at the end");
        break;
      }
      absl::StatusOr<Expr> atom = ParseAtom(depth);
      if (!atom.ok()) return atom;
      absl::StatusOr<Expr> rep = ParseQuantifiers(*std::move(atom));
      if (!rep.ok()) return rep;
      seq.push_back(*std::move(rep));
    }
    return Expr::Seq(std::move(seq));
  }

  // At most one quantifier (plus a lazy '?') may follow an atom, as in Python.
  absl::StatusOr<Expr> ParseQuantifiers(Expr atom) {
    int32_t min = 0, max = 0;
    const char c = Peek();
    if (c == '*') {
      min = 0, max = Expr::kUnbounded, ++pos_;
    } else if (c == '+') {
      min = 1, max = Expr::kUnbounded, ++pos_;
    } else if (c == '?') {
      min = 0, max = 1, ++pos_;
    } else if (c == '{' && IsBraceQuantifier()) {
      absl::Status st = ParseBraceCounts(&min, &max);
      if (!st.ok()) return st;
    } else {
      return atom;
    }
    atom = Expr::Repeat(std::move(atom), min, max);
    if (Peek() == '?') {
      ++pos_;  // lazy: same language
    } else if (Peek() == '+') {
      return Error(pos_, "possessive quantifiers are not supported");
    }
    const char n = Peek();
    if (n == '*' || n == '+' || n == '?' || (n == '{' && IsBraceQuantifier())) {
      return Error(pos_, "multiple repeat");
    }
    return atom;
  }

  // {m}, {m,}, {m,n} or {,n} at pos_ (IsBraceQuantifier() holds); advances past '}'.
  absl::Status ParseBraceCounts(int32_t* min, int32_t* max) {
    const size_t start = pos_;
    size_t p = pos_ + 1;
    auto number = [&](int64_t* out) {
      bool any = false;
      int64_t v = 0;
      while (p < p_.size() && p_[p] >= '0' && p_[p] <= '9') {
        v = std::min<int64_t>(v * 10 + (p_[p] - '0'), kMaxRepeatCount + 1);
        ++p, any = true;
      }
      *out = v;
      return any;
    };
    int64_t lo = 0, hi = 0;
    number(&lo);
    hi = lo;
    if (p_[p] == ',') {
      ++p;
      if (!number(&hi)) hi = Expr::kUnbounded;
    }
    pos_ = p + 1;  // past '}'
    if (lo > kMaxRepeatCount || hi > kMaxRepeatCount) {
      return Error(start,
                   absl::StrCat("repetition count over ", kMaxRepeatCount, " is not supported"));
    }
    if (hi != Expr::kUnbounded && hi < lo) return Error(start, "min repeat greater than max");
    *min = static_cast<int32_t>(lo);
    *max = static_cast<int32_t>(hi);
    return absl::OkStatus();
  }

  // '{' starts a quantifier when it reads {m}, {m,}, {m,n} or {,n}; otherwise it is a literal.
  bool IsBraceQuantifier() const {
    size_t p = pos_ + 1;
    bool digits = false;
    while (p < p_.size() && p_[p] >= '0' && p_[p] <= '9') ++p, digits = true;
    if (p < p_.size() && p_[p] == ',') {
      ++p;
      while (p < p_.size() && p_[p] >= '0' && p_[p] <= '9') ++p, digits = true;
    }
    return digits && p < p_.size() && p_[p] == '}';
  }

  absl::StatusOr<Expr> ParseAtom(int depth) {
    const size_t start = pos_;
    const char c = Peek();
    switch (c) {
      case '(': {
        if (depth >= kMaxNesting) return Error(start, "groups nested too deeply");
        ++pos_;
        if (Peek() == '?') {
          if (Peek(1) == ':') {
            pos_ += 2;
          } else if (Peek(1) == 'P' && Peek(2) == '<') {
            pos_ += 3;
            if (!SkipGroupName()) return Error(start, "bad group name");
          } else if (Peek(1) == '<' && Peek(2) != '=' && Peek(2) != '!') {
            pos_ += 2;
            if (!SkipGroupName()) return Error(start, "bad group name");
          } else if (Peek(1) == '=' || Peek(1) == '!' || Peek(1) == '<') {
            return Error(start, "lookaround assertions are not supported");
          } else {
            return Error(start, "inline flags and other (?...) groups are not supported");
          }
        }
        absl::StatusOr<Expr> inner = ParseAlt(depth + 1);
        if (!inner.ok()) return inner;
        if (Peek() != ')') return Error(start, "missing ')', unterminated subpattern");
        ++pos_;
        return inner;
      }
      case '[':
        return ParseClass();
      case '.':
        ++pos_;
        return Chars(ComplementRanges({{'\n', '\n'}}));
      case '^':
        return Error(start, "'^' is only supported at the start");
      case '*':
      case '+':
      case '?':
        return Error(start, "nothing to repeat");
      case '\\':
        return ParseEscape();
      default: {
        absl::StatusOr<uint32_t> cp = DecodeUtf8(p_, pos_);
        if (!cp.ok()) return Error(start, cp.status().message());
        return Chars({{*cp, *cp}});
      }
    }
  }

  bool SkipGroupName() {
    const size_t start = pos_;
    while (!AtEnd() && Peek() != '>') ++pos_;
    if (AtEnd() || pos_ == start) return false;
    ++pos_;
    return true;
  }

  // A class escape or single-character escape; `in_class` changes \b to backspace.
  // Sets *ranges (for \d \w \s and negations) or returns a single code point.
  absl::Status ReadEscape(bool in_class, Ranges* ranges, bool* shorthand) {
    const size_t start = pos_;
    ++pos_;  // '\\'
    if (AtEnd()) return Error(start, "bad escape (end of pattern)");
    const char e = p_[pos_++];
    *shorthand = false;
    auto one = [&](uint32_t cp) {
      *ranges = {{cp, cp}};
      return absl::OkStatus();
    };
    switch (e) {
      case 'd':
        *shorthand = true, *ranges = kDigit;
        return absl::OkStatus();
      case 'w':
        *shorthand = true, *ranges = kWord;
        return absl::OkStatus();
      case 's':
        *shorthand = true, *ranges = kSpace;
        return absl::OkStatus();
      case 'D':
        *shorthand = true, *ranges = AsciiComplement(kDigit);
        return absl::OkStatus();
      case 'W':
        *shorthand = true, *ranges = AsciiComplement(kWord);
        return absl::OkStatus();
      case 'S':
        *shorthand = true, *ranges = AsciiComplement(kSpace);
        return absl::OkStatus();
      case 'n':
        return one('\n');
      case 'r':
        return one('\r');
      case 't':
        return one('\t');
      case 'f':
        return one('\f');
      case 'v':
        return one('\v');
      case '0':
        return one(0);
      case 'b':
        if (in_class) return one('\b');
        return Error(start, "word boundaries (\\b) are not supported");
      case 'x':
      case 'u':
      case 'U': {
        absl::StatusOr<uint32_t> v = ReadHex(p_, pos_, e == 'x' ? 2 : e == 'u' ? 4 : 8);
        if (!v.ok()) return Error(start, v.status().message());
        return one(*v);
      }
      default:
        break;
    }
    if (e >= '1' && e <= '9') return Error(start, "backreferences are not supported");
    if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) {
      return Error(start, absl::StrCat("bad escape \\", std::string(1, e)));
    }
    if (static_cast<uint8_t>(e) >= 0x80) {
      --pos_;
      absl::StatusOr<uint32_t> cp = DecodeUtf8(p_, pos_);
      if (!cp.ok()) return Error(start, cp.status().message());
      return one(*cp);
    }
    return one(static_cast<uint8_t>(e));
  }

  absl::StatusOr<Expr> ParseEscape() {
    Ranges r;
    bool shorthand;
    if (absl::Status st = ReadEscape(false, &r, &shorthand); !st.ok()) return st;
    return Chars(r);
  }

  absl::StatusOr<Expr> ParseClass() {
    const size_t start = pos_;
    ++pos_;
    const bool negated = Peek() == '^';
    if (negated) ++pos_;
    Ranges ranges;
    bool has_shorthand = false;
    bool first = true;
    while (!AtEnd() && (Peek() != ']' || first)) {
      first = false;
      Ranges item;
      bool shorthand = false;
      if (Peek() == '\\') {
        if (absl::Status st = ReadEscape(true, &item, &shorthand); !st.ok()) return st;
      } else {
        const size_t at = pos_;
        absl::StatusOr<uint32_t> cp = DecodeUtf8(p_, pos_);
        if (!cp.ok()) return Error(at, cp.status().message());
        item = {{*cp, *cp}};
      }
      has_shorthand = has_shorthand || shorthand;
      if (!shorthand && Peek() == '-' && Peek(1) != ']' && pos_ + 1 < p_.size()) {
        const size_t dash = pos_;
        ++pos_;
        Ranges hi_item;
        bool hi_short = false;
        if (Peek() == '\\') {
          if (absl::Status st = ReadEscape(true, &hi_item, &hi_short); !st.ok()) return st;
        } else {
          const size_t at = pos_;
          absl::StatusOr<uint32_t> cp = DecodeUtf8(p_, pos_);
          if (!cp.ok()) return Error(at, cp.status().message());
          hi_item = {{*cp, *cp}};
        }
        if (hi_short) return Error(dash, "bad character range");
        if (hi_item[0].lo < item[0].lo) return Error(dash, "bad character range (out of order)");
        item = {{item[0].lo, hi_item[0].lo}};
      }
      ranges.insert(ranges.end(), item.begin(), item.end());
    }
    if (AtEnd()) return Error(start, "unterminated character set");
    ++pos_;
    if (!negated) return Chars(ranges);
    Ranges complement = ComplementRanges(ranges);
    if (has_shorthand) complement = Intersect(complement, {{0, 0x7F}});
    return Chars(complement);
  }

  std::string_view p_;
  RegexOptions options_;
  size_t pos_ = 0;
};

}  // namespace

Expr JsonStringChars(const Ranges& ranges) {
  // Characters a JSON string holds as they are: not '"', not '\', not a control character.
  const Ranges plain = Intersect(ranges, {{0x20, 0x21}, {0x23, 0x5B}, {0x5D, 0x10FFFF}});
  std::vector<Expr> alts;
  if (!plain.empty()) alts.push_back(Expr::CodePoints(plain));
  for (const CodePointRange& r : NormalizeRanges(ranges)) {
    for (uint32_t cp = r.lo; cp <= r.hi && cp < 0x20; ++cp) {
      switch (cp) {
        case '\n':
          alts.push_back(Expr::Literal("\\n"));
          break;
        case '\r':
          alts.push_back(Expr::Literal("\\r"));
          break;
        case '\t':
          alts.push_back(Expr::Literal("\\t"));
          break;
        case '\b':
          alts.push_back(Expr::Literal("\\b"));
          break;
        case '\f':
          alts.push_back(Expr::Literal("\\f"));
          break;
        default:
          alts.push_back(Expr::Literal(absl::StrFormat("\\u%04x", cp)));
      }
    }
    if (r.lo <= '"' && '"' <= r.hi) alts.push_back(Expr::Literal("\\\""));
    if (r.lo <= '\\' && '\\' <= r.hi) alts.push_back(Expr::Literal("\\\\"));
  }
  if (alts.empty()) return Expr::CodePoints({});
  return Expr::Alt(std::move(alts));
}

absl::StatusOr<Expr> CompileRegex(std::string_view pattern, const RegexOptions& options) {
  return RegexParser(pattern, options).Parse();
}

absl::StatusOr<Grammar> RegexGrammar(std::string_view pattern) {
  absl::StatusOr<Expr> e = CompileRegex(pattern);
  if (!e.ok()) return absl::InvalidArgumentError(absl::StrCat("regex: ", e.status().message()));
  GrammarBuilder b;
  const int32_t root = b.AddRule("root", *std::move(e));
  absl::StatusOr<Grammar> g = std::move(b).Build(root);
  if (!g.ok()) return absl::InvalidArgumentError(absl::StrCat("regex: ", g.status().message()));
  return g;
}

}  // namespace hearth::constraint
