// A small command-line parser for the file-tool subcommands (`hearth quantize`,
// `hearth synth-model`, `hearth models`): positional arguments and --flags, each flag declared
// as taking a value ("--name VALUE" / "--name=VALUE") or not ("--name"); '_' and '-' are
// interchangeable in names. (The other subcommands use Abseil flags, whose registry is global
// to the binary: these tools' flags would collide with theirs.)
//
// Thread-safety: plain values.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hearth::server {

struct CliArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // flag name (with '-') -> value
  std::set<std::string> switches;             // boolean flags given
  bool help = false;                          // -h / --help

  bool Has(const std::string& name) const { return values.count(name) || switches.count(name); }
  // InvalidArgument naming the flag when its value is not an integer in [lo, hi].
  absl::StatusOr<int64_t> Int(const std::string& name, int64_t lo, int64_t hi) const;
};

// InvalidArgument for an unknown flag, a value flag without its value, or a switch given one.
absl::StatusOr<CliArgs> ParseCliArgs(int argc, char** argv,
                                     const std::set<std::string>& value_flags,
                                     const std::set<std::string>& switch_flags);

}  // namespace hearth::server
