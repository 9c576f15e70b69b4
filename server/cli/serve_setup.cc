#include "server/cli/serve_setup.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

extern char** environ;

namespace hearth::server {

absl::StatusOr<ServeSetup> LoadServeSetup(const std::vector<std::string>& args) {
  ServeSetup setup;
  ASSIGN_OR_RETURN(setup.args, ParseServeArgs(args));
  std::string file = setup.args.config_file;
  if (const char* env = std::getenv("HEARTH_CONFIG"); file.empty() && env != nullptr) file = env;
  ConfigSources sources;
  if (!file.empty()) {
    // A directory or FIFO is refused (without blocking on it), a file larger than 16 MiB too.
    ASSIGN_OR_RETURN(sources.yaml_text, ReadConfigFile(file));
    sources.yaml_name = file;
  }
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string kv = *e;
    const size_t eq = kv.find('=');
    if (kv.rfind("HEARTH_", 0) == 0 && eq != std::string::npos) {
      sources.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
  }
  sources.flags = setup.args.flags;
  ASSIGN_OR_RETURN(setup.loaded, LoadServerConfig(sources));
  return setup;
}

std::string LocalHost(const std::string& host) {
  if (host.empty() || host == "0.0.0.0") return "127.0.0.1";
  if (host == "::" || host == "[::]") return "::1";
  return host;
}

}  // namespace hearth::server
