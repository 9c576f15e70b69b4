// The settings `hearth serve` runs with for a command line: shared by `hearth serve`, `hearth
// health` (which must probe the port the server listens on) and `hearth bench-serve --offline`
// (which must build the engine serve would).
//
//   config file:  --config FILE, else $HEARTH_CONFIG (so a container's HEALTHCHECK, which
//                 cannot see the server's arguments, reads the same file), else none
//   layers:       defaults < that YAML < HEARTH_* environment < flags (server_config.h)
//
// Thread-safety: free functions; reads the process environment.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/config/server_config.h"

namespace hearth::server {

struct ServeSetup {
  ServeArgs args;
  LoadedConfig loaded;
};

// InvalidArgument for a bad command line, an unreadable config file or a bad setting (the
// message names the key and its source).
absl::StatusOr<ServeSetup> LoadServeSetup(const std::vector<std::string>& args);

// The address a local client reaches a listener on: a wildcard host ("0.0.0.0", "::", "")
// becomes loopback. "0.0.0.0" -> "127.0.0.1", "::" -> "::1".
std::string LocalHost(const std::string& host);

}  // namespace hearth::server
