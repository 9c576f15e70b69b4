#include "server/cli/models_command.h"

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/model_store/ollama_store.h"
#include "server/cli/cli_args.h"

namespace hearth::server {
namespace {

namespace ms = engine::model_store;

std::string HumanSize(uint64_t bytes) {
  // As `ollama list`: decimal units.
  if (bytes >= 1000000000ull) return absl::StrFormat("%.1f GB", bytes / 1e9);
  if (bytes >= 1000000ull) return absl::StrFormat("%.0f MB", bytes / 1e6);
  return absl::StrFormat("%.0f KB", bytes / 1e3);
}

std::string Date(int64_t unix_seconds) {
  const std::time_t t = unix_seconds;
  std::tm tm;
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm);
  return buf;
}

}  // namespace

int RunModels(int argc, char** argv) {
  auto cli = ParseCliArgs(argc, argv, {"store"}, {"json"});
  if (!cli.ok() || !cli->positional.empty()) {
    std::fprintf(stderr, "hearth models: %s\nusage: hearth models [--store DIR] [--json]\n",
                 cli.ok() ? "unexpected argument" : std::string(cli.status().message()).c_str());
    return 2;
  }
  if (cli->help) {
    std::printf(
        "usage: hearth models [--store DIR] [--json]\n"
        "Lists Ollama's local store ($OLLAMA_MODELS, else ~/.ollama/models).\n");
    return 0;
  }
  const ms::OllamaStore store(cli->values.count("store") ? cli->values.at("store")
                                                         : ms::OllamaStore::DefaultRoot());
  auto entries = store.List();
  if (!entries.ok()) {
    std::fprintf(stderr, "hearth models: %s\n", std::string(entries.status().message()).c_str());
    return 1;
  }
  if (cli->switches.count("json")) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : *entries) {
      out.push_back({{"name", e.name.DisplayName()},
                     {"id", e.id},
                     {"size", e.size},
                     {"quantization", e.quantization},
                     {"family", e.family},
                     {"parameters", e.parameters},
                     {"modified", e.modified_unix},
                     {"error", e.error}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  size_t width = 4;
  for (const auto& e : *entries) width = std::max(width, e.name.DisplayName().size());
  std::printf("%-*s  %-12s  %8s  %-8s  %-8s  %-6s  %-16s  %s\n", static_cast<int>(width), "NAME",
              "ID", "SIZE", "QUANT", "FAMILY", "PARAMS", "MODIFIED", "STATUS");
  for (const auto& e : *entries) {
    std::printf("%-*s  %-12s  %8s  %-8s  %-8s  %-6s  %-16s  %s\n", static_cast<int>(width),
                e.name.DisplayName().c_str(), e.id.c_str(), HumanSize(e.size).c_str(),
                e.quantization.c_str(), e.family.c_str(), e.parameters.c_str(),
                Date(e.modified_unix).c_str(), e.error.empty() ? "ok" : e.error.c_str());
  }
  return 0;
}

}  // namespace hearth::server
