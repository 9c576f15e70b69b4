// `hearth devices [--model PATH]`: the devices a split can use and, with a model, what its
// weights take: total and per-token (active) parameters and matrix bytes, which is what a mixture
// of experts (Mixtral) changes: every expert must be resident, only the routed ones are read.
#pragma once

namespace hearth::server {

// argv[0] is "devices". Exit status: 0, 1 (the model cannot be opened), 2 (bad flags).
int RunDevices(int argc, char** argv);

}  // namespace hearth::server
