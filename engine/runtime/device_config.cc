#include "engine/runtime/device_config.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "engine/backend_info.h"

namespace hearth::engine {
namespace {

absl::Status Bad(absl::string_view key, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", why));
}

bool ParseLayerRange(absl::string_view text, int32_t* first, int32_t* last) {
  const std::vector<absl::string_view> ends = absl::StrSplit(text, '-');
  return ends.size() == 2 && absl::SimpleAtoi(ends[0], first) && absl::SimpleAtoi(ends[1], last) &&
         *first >= 0 && *last >= *first;
}

// "2GiB" -> bytes (the binary and decimal units of the server config).
bool ParseSize(absl::string_view text, int64_t* bytes) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  double number = 0;
  if (i == 0 || !absl::SimpleAtod(text.substr(0, i), &number)) return false;
  const std::string unit = absl::AsciiStrToLower(text.substr(i));
  double scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  if (unit == "k" || unit == "kib") scale = 1024.0;
  if (unit == "m" || unit == "mib") scale = 1024.0 * 1024;
  if (unit == "g" || unit == "gib") scale = 1024.0 * 1024 * 1024;
  if (unit == "t" || unit == "tib") scale = 1024.0 * 1024 * 1024 * 1024;
  if (unit == "kb") scale = 1e3;
  if (unit == "mb") scale = 1e6;
  if (unit == "gb") scale = 1e9;
  if (unit == "tb") scale = 1e12;
  const double value = number * scale;
  if (scale == 0 || !(value >= 1 && value < 4.6e18)) return false;
  *bytes = static_cast<int64_t>(value);
  return true;
}

absl::StatusOr<StageSpec> ParseStageSpec(absl::string_view text) {
  const std::string where = absl::StrCat("devices: stage '", text, "'");
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  StageSpec spec;
  size_t i = 1;
  std::string device(parts[0]);
  if (parts[0] == "cuda" && parts.size() > 1 && !parts[1].empty() &&
      parts[1].find_first_not_of("0123456789") == absl::string_view::npos) {
    device = absl::StrCat("cuda:", parts[1]);
    i = 2;
  }
  auto id = ParseDeviceId(device);
  if (!id.ok()) return Bad(where, std::string(id.status().message()));
  spec.device = *id;
  bool have_range = false;
  for (; i < parts.size(); ++i) {
    const absl::string_view part = parts[i];
    if (part.find('=') == absl::string_view::npos) {
      if (have_range || !ParseLayerRange(part, &spec.first_layer, &spec.last_layer)) {
        return Bad(where, absl::StrCat("'", part, "' is not a layer range FIRST-LAST"));
      }
      have_range = true;
      continue;
    }
    const std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(part, '=');
    if (kv.first == "threads") {
      if (!absl::SimpleAtoi(kv.second, &spec.threads) || spec.threads < 1 || spec.threads > 1024) {
        return Bad(where,
                   absl::StrCat("threads must be an integer in [1, 1024], got '", kv.second, "'"));
      }
      if (spec.device.kind != DeviceKind::kCpu) return Bad(where, "threads is for CPU stages");
    } else if (kv.first == "memory") {
      if (!ParseSize(kv.second, &spec.memory_bytes)) {
        return Bad(where,
                   absl::StrCat("memory must be a size such as 2GiB, got '", kv.second, "'"));
      }
    } else {
      return Bad(where, absl::StrCat("unknown option '", kv.first,
                                     "' (a stage takes a layer range, threads= and memory=)"));
    }
  }
  return spec;
}

std::string FormatBytes(int64_t bytes) {
  if (bytes % (int64_t{1} << 30) == 0) return absl::StrCat(bytes >> 30, "GiB");
  if (bytes % (int64_t{1} << 20) == 0) return absl::StrCat(bytes >> 20, "MiB");
  return absl::StrCat(bytes);
}

}  // namespace

std::string DeviceId::ToString() const {
  return kind == DeviceKind::kCpu ? "cpu" : absl::StrCat("cuda:", index);
}

absl::StatusOr<DeviceId> ParseDeviceId(absl::string_view text) {
  const std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (t == "cpu") return DeviceId{DeviceKind::kCpu, 0};
  if (t == "cuda" || t == "gpu") return DeviceId{DeviceKind::kCuda, 0};
  int32_t index = 0;
  if (t.rfind("cuda:", 0) == 0 && absl::SimpleAtoi(t.substr(5), &index) && index >= 0) {
    return DeviceId{DeviceKind::kCuda, index};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown device '", text, "' (expected cpu, cuda or cuda:N)"));
}

std::string StageSpec::ToString() const {
  std::string s = device.ToString();
  if (first_layer >= 0) absl::StrAppend(&s, ":", first_layer, "-", last_layer);
  if (threads > 0) absl::StrAppend(&s, ":threads=", threads);
  if (memory_bytes > 0) absl::StrAppend(&s, ":memory=", FormatBytes(memory_bytes));
  return s;
}

absl::StatusOr<std::vector<StageSpec>> ParseStageSpecs(absl::string_view text) {
  std::vector<StageSpec> specs;
  for (absl::string_view part :
       absl::StrSplit(text, absl::ByAnyChar(", \t\n"), absl::SkipEmpty())) {
    ASSIGN_OR_RETURN(StageSpec spec, ParseStageSpec(part));
    specs.push_back(spec);
  }
  return specs;
}

std::string FormatStageSpecs(const std::vector<StageSpec>& specs) {
  std::vector<std::string> parts;
  for (const StageSpec& s : specs) parts.push_back(s.ToString());
  return absl::StrJoin(parts, ",");
}

absl::Status DeviceConfig::Validate() const {
  if (threads < 1) return Bad("threads", absl::StrCat("must be >= 1, got ", threads));
  if (gpu_layers < -1) return Bad("gpu_layers", absl::StrCat("must be >= -1, got ", gpu_layers));
  if (gpu_layers >= 0 && device.has_value() && device->kind == DeviceKind::kCpu) {
    return Bad("gpu_layers", "needs a GPU device (device is cpu)");
  }
  return absl::OkStatus();
}

std::vector<DeviceId> AvailableDevices() {
  std::vector<DeviceId> devices = {DeviceId{DeviceKind::kCpu, 0}};
  for (int32_t i = 0; i < UsableCudaDeviceCount(); ++i) {
    devices.push_back(DeviceId{DeviceKind::kCuda, i});
  }
  return devices;
}

absl::StatusOr<std::vector<StageSpec>> ResolveStages(const DeviceConfig& config, int32_t num_layers,
                                                     const std::vector<DeviceId>& available) {
  RETURN_IF_ERROR(config.Validate());
  auto usable = [&](const DeviceId& d) {
    for (const DeviceId& a : available) {
      if (a == d) return true;
    }
    return false;
  };
  auto names = [&] {
    std::vector<std::string> n;
    for (const DeviceId& a : available) n.push_back(a.ToString());
    return absl::StrJoin(n, ", ");
  };
  if (!config.devices.empty()) {
    std::vector<StageSpec> stages = config.devices;
    const bool any_range = stages[0].first_layer >= 0;
    for (size_t i = 0; i < stages.size(); ++i) {
      if (!usable(stages[i].device)) {
        return Bad("devices",
                   absl::StrCat("stage ", i, " names device ", stages[i].device.ToString(),
                                ", which this host does not have (available: ", names(), ")"));
      }
      if ((stages[i].first_layer >= 0) != any_range) {
        return Bad("devices", "give a layer range for every stage or for none");
      }
    }
    if (static_cast<int32_t>(stages.size()) > num_layers) {
      return Bad("devices",
                 absl::StrCat(stages.size(), " stages for a model of ", num_layers, " layers"));
    }
    if (!any_range) {
      // Even split, the first stages taking one more layer when it does not divide.
      const int32_t n = static_cast<int32_t>(stages.size());
      int32_t next = 0;
      for (int32_t i = 0; i < n; ++i) {
        const int32_t count = num_layers / n + (i < num_layers % n ? 1 : 0);
        stages[i].first_layer = next;
        stages[i].last_layer = next + count - 1;
        next += count;
      }
      return stages;
    }
    int32_t next = 0;
    for (size_t i = 0; i < stages.size(); ++i) {
      if (stages[i].first_layer != next) {
        return Bad("devices", absl::StrCat("stage ", i, " (", stages[i].ToString(),
                                           ") starts at layer ", stages[i].first_layer,
                                           ", expected ", next, ": the ranges must cover layers 0-",
                                           num_layers - 1, " exactly once, in order"));
      }
      if (stages[i].last_layer >= num_layers) {
        return Bad("devices", absl::StrCat("stage ", i, " (", stages[i].ToString(),
                                           ") ends at layer ", stages[i].last_layer,
                                           ", past the model's last layer ", num_layers - 1));
      }
      next = stages[i].last_layer + 1;
    }
    if (next != num_layers) {
      return Bad("devices",
                 absl::StrCat("the stages cover layers 0-", next - 1, " of the model's 0-",
                              num_layers - 1, ": every layer needs a stage"));
    }
    return stages;
  }

  // One device (or a GPU plus the CPU for gpu_layers).
  DeviceId device;
  if (config.device.has_value()) {
    device = *config.device;
    if (!usable(device)) {
      return Bad("device", absl::StrCat(device.ToString(), " is not available on this host (",
                                        "available: ", names(), ")"));
    }
  } else {
    device = available.size() > 1 ? available[1] : available[0];  // auto: the first GPU
  }
  StageSpec whole{device, 0, num_layers - 1, 0, 0};
  if (device.kind == DeviceKind::kCpu || config.gpu_layers < 0 || config.gpu_layers >= num_layers) {
    return std::vector<StageSpec>{whole};
  }
  if (config.gpu_layers == 0) {
    return std::vector<StageSpec>{StageSpec{DeviceId{}, 0, num_layers - 1, 0, 0}};
  }
  return std::vector<StageSpec>{StageSpec{device, 0, config.gpu_layers - 1, 0, 0},
                                StageSpec{DeviceId{}, config.gpu_layers, num_layers - 1, 0, 0}};
}

}  // namespace hearth::engine
