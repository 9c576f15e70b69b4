#include "server/cli/args.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hearth::server::cli {
namespace {

const FlagSpec* Find(const std::vector<FlagSpec>& specs, const std::string& name) {
  for (const FlagSpec& s : specs) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<ParsedArgs> ParsedArgs::Parse(const std::vector<FlagSpec>& specs,
                                             const std::vector<std::string>& args) {
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      out.rest_.assign(args.begin() + i + 1, args.end());
      break;
    }
    if (arg == "-h" && Find(specs, "help") != nullptr) {
      out.values_.emplace_back("help", "true");
      out.given_.push_back({"help", "help", "true"});
      continue;
    }
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      out.positional_.push_back(arg);
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string spelled = arg.substr(2, eq == std::string::npos ? eq : eq - 2);
    const std::string name = NormalizeFlagName(spelled);
    const FlagSpec* spec = Find(specs, name);
    if (spec == nullptr)
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", spelled));
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (spec->takes_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("flag --", spelled, " needs a value"));
      }
      value = args[++i];
    } else {
      value = "true";
    }
    if (!spec->takes_value) {
      const std::optional<bool> b = ParseBoolWord(value);
      if (!b.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", spelled, " is a boolean (true/false), got '", value, "'"));
      }
      value = *b ? "true" : "false";
    }
    out.given_.push_back({spelled, name, value});
    out.values_.emplace_back(name, std::move(value));
  }
  return out;
}

bool ParsedArgs::Has(const std::string& name) const {
  for (const auto& [n, v] : values_) {
    if (n == name) return true;
  }
  return false;
}

std::string ParsedArgs::GetString(const std::string& name, const std::string& fallback) const {
  std::string out = fallback;
  for (const auto& [n, v] : values_) {
    if (n == name) out = v;
  }
  return out;
}

std::vector<std::string> ParsedArgs::GetAll(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : values_) {
    if (n == name) out.push_back(v);
  }
  return out;
}

absl::StatusOr<int64_t> ParsedArgs::GetInt(const std::string& name, int64_t fallback) const {
  if (!Has(name)) return fallback;
  int64_t v = 0;
  if (!absl::SimpleAtoi(GetString(name), &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("flag --", name, ": not an integer: '", GetString(name), "'"));
  }
  return v;
}

absl::StatusOr<double> ParsedArgs::GetDouble(const std::string& name, double fallback) const {
  if (!Has(name)) return fallback;
  double v = 0;
  if (!absl::SimpleAtod(GetString(name), &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("flag --", name, ": not a number: '", GetString(name), "'"));
  }
  return v;
}

bool ParsedArgs::GetBool(const std::string& name) const {
  return Has(name) && ParseBoolWord(GetString(name)).value_or(false);
}

std::string NormalizeFlagName(std::string name) {
  std::replace(name.begin(), name.end(), '-', '_');
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

std::optional<bool> ParseBoolWord(const std::string& text) {
  const std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
  if (t == "false" || t == "no" || t == "off" || t == "0") return false;
  return std::nullopt;
}

std::string FormatFlags(const std::vector<FlagSpec>& specs) {
  std::string out;
  for (const FlagSpec& s : specs) {
    std::string head = absl::StrCat("  --", s.name);
    const size_t space = s.help.find("  ");
    std::string help = s.help;
    if (s.takes_value && space != std::string::npos) {
      absl::StrAppend(&head, " ", s.help.substr(0, space));
      help = s.help.substr(space + 2);
    }
    if (head.size() < 30) head.resize(30, ' ');
    absl::StrAppend(&out, head, " ", help, "\n");
  }
  return out;
}

absl::StatusOr<std::pair<int32_t, int32_t>> ParseRange(const std::string& flag,
                                                       const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  int32_t lo = 0;
  int32_t hi = 0;
  const bool ok =
      (parts.size() == 1 && absl::SimpleAtoi(parts[0], &lo) && (hi = lo, true)) ||
      (parts.size() == 2 && absl::SimpleAtoi(parts[0], &lo) && absl::SimpleAtoi(parts[1], &hi));
  if (!ok || lo < 1 || hi < lo) {
    return absl::InvalidArgumentError(absl::StrCat(
        "flag --", flag, ": want MIN:MAX with 1 <= MIN <= MAX (or N), got '", text, "'"));
  }
  return std::make_pair(lo, hi);
}

}  // namespace hearth::server::cli
