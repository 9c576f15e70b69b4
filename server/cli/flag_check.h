// Checks a subcommand's command line against the Abseil flags it defines before
// absl::ParseCommandLine runs, which exits with code 1 on an unknown flag or a bad value: Hearth's
// commands exit 2 for usage errors.
// Thread-safety: reads the global flag registry; call from main before other threads start.
#pragma once

#include "absl/status/status.h"

namespace hearth::server {

// InvalidArgument ("unknown flag --x", "flag --x needs a value", "flag --x: <why>") for the
// first bad argument of argv[1..argc). Accepts --flag=value, --flag value, -flag, --noflag for
// booleans, and stops at "--". Flag values are parsed (and set) as ParseCommandLine would.
absl::Status CheckFlags(int argc, char** argv);

}  // namespace hearth::server
