// Fuzz target: `hearth serve` configuration loading from an arbitrary YAML text, environment
// and command line (parts separated by 0x1E; env lines NAME=VALUE; one argument per line),
// plus the byte-size and duration parsers. Invariants: a loaded config describes itself, and
// every setting's origin is named.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "server/config/server_config.h"

using namespace hearth;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (16 << 10)) return 0;
  fuzz::FuzzInput in(data, size);
  const std::vector<std::string_view> parts = fuzz::Split(in.Rest(), '\x1e');
  server::ConfigSources sources;
  sources.yaml_name = "fuzz.yaml";
  sources.yaml_text = std::string(parts[0]);
  if (parts.size() > 1) {
    for (std::string_view line : fuzz::Split(parts[1], '\n')) {
      const size_t eq = line.find('=');
      if (eq == std::string_view::npos) continue;
      sources.env.emplace_back(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
    }
  }
  if (parts.size() > 2) {
    std::vector<std::string> args;
    for (std::string_view arg : fuzz::Split(parts[2], '\n')) args.emplace_back(arg);
    auto parsed = server::ParseServeArgs(args);
    if (parsed.ok()) sources.flags = parsed->flags;
  }
  for (std::string_view part : parts) {
    (void)server::ParseByteSize(std::string(part.substr(0, 64)));
    (void)server::ParseDuration(std::string(part.substr(0, 64)));
  }
  auto loaded = server::LoadServerConfig(sources);
  if (!loaded.ok()) return 0;
  const std::vector<std::string> lines = server::DescribeConfig(*loaded);
  fuzz::Check(lines.size() == server::ConfigKeys().size(), "every setting described");
  fuzz::Check(loaded->origins.size() == lines.size(), "every setting has an origin");
  (void)loaded->config.ToEngineConfig().Validate();
  return 0;
}
