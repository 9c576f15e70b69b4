#include "server/cli/devices_command.h"

#include <cstdio>
#include <string>
#include <string_view>

#include "absl/strings/str_format.h"
#include "engine/backend_info.h"
#include "engine/model/model.h"

namespace hearth::server {
namespace {

// "46,702,792,704 (46.7B)".
std::string Count(int64_t n) {
  std::string digits = std::to_string(n), grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped += ',';
    grouped += digits[i];
  }
  return absl::StrFormat("%s (%.3gB)", grouped, n / 1e9);
}
std::string GiB(int64_t bytes) { return absl::StrFormat("%.2f GiB", bytes / 1073741824.0); }

}  // namespace

int RunDevices(int argc, char** argv) {
  std::string model_path;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--model" && i + 1 < argc) {
      model_path = argv[++i];
    } else if (arg.substr(0, 8) == "--model=") {
      model_path = std::string(arg.substr(8));
    } else {
      std::fprintf(stderr, "usage: hearth devices [--model PATH]\n");
      return 2;
    }
  }
  std::fputs(engine::DescribeBackends().c_str(), stdout);
  if (model_path.empty()) return 0;
  auto model = engine::LoadedModel::Open(model_path);
  if (!model.ok()) {
    std::fprintf(stderr, "hearth devices: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  const engine::ModelConfig& c = (*model)->config();
  const engine::ModelWeights& w = (*model)->weights();
  const engine::ParameterCounts n = w.CountParameters();
  std::string experts;
  if (c.is_moe()) {
    experts = absl::StrFormat(" (%d of %d experts per token)", c.expert_used_count, c.expert_count);
  }
  std::printf("model %s: %s, %d layers\n", model_path.c_str(), c.arch_name.c_str(), c.num_layers);
  std::printf("  parameters: %s total, %s active per token%s\n", Count(n.total).c_str(),
              Count(n.active).c_str(), experts.c_str());
  std::printf("  weights: %s in the file, %s of matrices read per decoded token\n",
              GiB(static_cast<int64_t>((*model)->file().size())).c_str(),
              GiB(w.MatrixBytesPerToken()).c_str());
  return 0;
}

}  // namespace hearth::server
