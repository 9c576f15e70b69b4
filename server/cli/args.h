// A small command-line parser for the client-side subcommands (`hearth client`, `hearth
// bench-serve`). Their flags live in a table per command instead of global absl flags, so the
// names can repeat across subcommands of the one binary (--max_tokens is also `hearth
// generate`'s absl flag).
//
//   --name=value   --name value   --flag (a boolean: true)   --flag=false
//   '-' and '_' are interchangeable in names; a repeated flag keeps every value (GetAll);
//   words that are not flags are positional; everything after a bare "--" is `rest`.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace hearth::server::cli {

struct FlagSpec {
  std::string name;  // with underscores, e.g. "max_tokens"
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

 private:
  std::vector<std::pair<std::string, std::string>> values_;  // (name, value) in order
  std::vector<std::string> positional_;
  std::vector<std::string> rest_;
};

// "  --name VALUE   help" lines for usage messages.
std::string FormatFlags(const std::vector<FlagSpec>& specs);

// "MIN:MAX" (or "N" for MIN = MAX) with 1 <= MIN <= MAX; InvalidArgument naming `flag`.
absl::StatusOr<std::pair<int32_t, int32_t>> ParseRange(const std::string& flag,
                                                       const std::string& text);

}  // namespace hearth::server::cli
