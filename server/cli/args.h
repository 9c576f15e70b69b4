// The one command-line parser of every `hearth` subcommand (serve, generate, client,
// bench-serve, health). Each command declares its flags in a table, so the same rules hold
// everywhere and names can repeat across subcommands of the one binary:
//
//   --name=value   --name value   --flag (a boolean: true)   --flag=false
//   '-', '_' and '.' are interchangeable in names (--max-tokens = --max_tokens,
//   --metrics-port = --metrics.port); a repeated flag keeps every value (GetAll: --stop a
//   --stop b); booleans take true/false, yes/no, on/off, 1/0; words that are not flags are
//   positional; everything after a bare "--" is `rest`; -h is --help.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace hearth::server::cli {

struct FlagSpec {
  std::string name;  // with underscores, e.g. "max_tokens" (normalized spelling)
  bool takes_value = true;
  std::string help;  // "N  most tokens to generate"
};

class ParsedArgs {
 public:
  // InvalidArgument for an unknown flag ("unknown flag --x"), a value flag without its value,
  // or a boolean flag given a value other than true/false/1/0.
  static absl::StatusOr<ParsedArgs> Parse(const std::vector<FlagSpec>& specs,
                                          const std::vector<std::string>& args);

  bool Has(const std::string& name) const;
  // The last value given, or `fallback`.
  std::string GetString(const std::string& name, const std::string& fallback = "") const;
  std::vector<std::string> GetAll(const std::string& name) const;
  // InvalidArgument naming the flag when the value does not parse.
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback) const;
  absl::StatusOr<double> GetDouble(const std::string& name, double fallback) const;
  bool GetBool(const std::string& name) const;  // present and not false

  const std::vector<std::string>& positional() const { return positional_; }
  const std::vector<std::string>& rest() const { return rest_; }

  // Every flag given, in order: its name as spelled (without "--"), its normalized name and
  // its value ("true" for a bare boolean).
  struct Given {
    std::string spelled;
    std::string name;
    std::string value;
  };
  const std::vector<Given>& given() const { return given_; }

 private:
  std::vector<std::pair<std::string, std::string>> values_;  // (name, value) in order
  std::vector<Given> given_;
  std::vector<std::string> positional_;
  std::vector<std::string> rest_;
};

// "  --name VALUE   help" lines for usage messages.
std::string FormatFlags(const std::vector<FlagSpec>& specs);

// "max-num-seqs", "metrics.port" -> "max_num_seqs", "metrics_port".
std::string NormalizeFlagName(std::string name);

// true/yes/on/1 and false/no/off/0 (any case); nullopt otherwise.
std::optional<bool> ParseBoolWord(const std::string& text);

// "MIN:MAX" (or "N" for MIN = MAX) with 1 <= MIN <= MAX; InvalidArgument naming `flag`.
absl::StatusOr<std::pair<int32_t, int32_t>> ParseRange(const std::string& flag,
                                                       const std::string& text);

}  // namespace hearth::server::cli
