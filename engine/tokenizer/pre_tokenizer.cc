#include "engine/tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/tokenizer/unicode.h"

namespace hearth::engine::tokenizer {
namespace {

// GPT-2 (HF ByteLevel with use_regex=true, llama.cpp LLAMA_VOCAB_PRE_TYPE_GPT2).
constexpr char kGpt2Pattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama 3 (its tokenizer.json Split regex; llama.cpp LLAMA_VOCAB_PRE_TYPE_LLAMA3).
constexpr char kLlama3Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2 (its tokenizer.json Split regex; llama.cpp LLAMA_VOCAB_PRE_TYPE_QWEN2).
constexpr char kQwen2Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// HF Digits(individual_digits=true): every numeric character alone.
constexpr char kDigitsPattern[] = R"(\p{N})";

struct NamedPre {
  const char* name;
  std::vector<std::string> patterns;
};

const std::vector<NamedPre>& Table() {
  static const std::vector<NamedPre> table = {
      {"default", {kGpt2Pattern}},
      {"gpt2", {kGpt2Pattern}},
      {"smollm", {kDigitsPattern, kGpt2Pattern}},
      {"llama-bpe", {kLlama3Pattern}},
      {"qwen2", {kQwen2Pattern}},
  };
  return table;
}

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::~PreTokenizer() = default;

const std::vector<std::string>& PreTokenizer::SupportedNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const NamedPre& p : Table()) n.push_back(p.name);
    return n;
  }();
  return names;
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::Create(std::string_view name) {
  if (name.empty()) name = "default";
  for (const NamedPre& p : Table()) {
    if (name == p.name) return FromPatterns(p.patterns);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported tokenizer.ggml.pre '", ToAbsl(name),
                   "'; supported: ", absl::StrJoin(SupportedNames(), ", ")));
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::FromPatterns(
    const std::vector<std::string>& patterns) {
  auto pre = std::unique_ptr<PreTokenizer>(new PreTokenizer());
  for (const std::string& pattern : patterns) {
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error_code,
                                     &error_offset, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error_code, message, sizeof(message));
      return absl::InvalidArgumentError(absl::StrCat("bad pre-tokenizer regex at offset ",
                                                     error_offset, ": ",
                                                     reinterpret_cast<const char*>(message)));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // best effort: falls back to the interpreter
    auto regex = std::make_unique<Regex>();
    regex->code = code;
    pre->regexes_.push_back(std::move(regex));
  }
  return pre;
}

std::vector<std::string_view> PreTokenizer::Split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  if (text.empty()) return pieces;
  pieces.push_back(text);
  std::vector<std::string_view> next;
  for (const auto& regex : regexes_) {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(regex->code, nullptr);
    next.clear();
    for (std::string_view piece : pieces) {
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t pos = 0;      // where the next search starts
      size_t emitted = 0;  // end of what has been emitted
      while (pos <= piece.size()) {
        const int rc = pcre2_match(regex->code, subject, piece.size(), pos, 0, md, nullptr);
        if (rc < 0) break;
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t start = ov[0], end = ov[1];
        if (end == start) {  // empty match: step over one character
          if (start >= piece.size()) break;
          pos = start + 1;
          while (pos < piece.size() && (static_cast<uint8_t>(piece[pos]) & 0xC0) == 0x80) ++pos;
          continue;
        }
        if (start > emitted) next.push_back(piece.substr(emitted, start - emitted));
        next.push_back(piece.substr(start, end - start));
        emitted = end;
        pos = end;
      }
      if (emitted < piece.size()) next.push_back(piece.substr(emitted));
    }
    pcre2_match_data_free(md);
    pieces.swap(next);
  }
  return pieces;
}

}  // namespace hearth::engine::tokenizer
