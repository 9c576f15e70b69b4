#include "server/config/server_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/host_resources.h"
#include "common/status_macros.h"
#include "server/cli/args.h"

namespace hearth::server {
namespace {

// One setting: how to parse a value into the config and print it back.
struct Setting {
  std::string key;
  // InvalidArgument with the reason (without key or origin) when `value` does not fit.
  std::function<absl::Status(ServerConfig&, const std::string& value)> set;
  std::function<std::string(const ServerConfig&)> get;
  bool is_bool = false;
};

absl::Status Reason(const std::string& why) { return absl::InvalidArgumentError(why); }

absl::StatusOr<int64_t> ParseInt(const std::string& text) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &v)) {
    return Reason(absl::StrCat("must be an integer, got '", text, "'"));
  }
  return v;
}

absl::StatusOr<double> ParseDouble(const std::string& text) {
  double v = 0;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(text), &v) || !std::isfinite(v)) {
    return Reason(absl::StrCat("must be a number, got '", text, "'"));
  }
  return v;
}

absl::StatusOr<bool> ParseBool(const std::string& text) {
  const std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
  if (t == "false" || t == "no" || t == "off" || t == "0") return false;
  return Reason(absl::StrCat("must be a boolean (true/false), got '", text, "'"));
}

Setting IntSetting(std::string key, std::function<int32_t&(ServerConfig&)> field, int64_t lo,
                   int64_t hi, std::function<absl::Status(int64_t)> extra = nullptr) {
  return Setting{
      std::move(key),
      [field, lo, hi, extra](ServerConfig& c, const std::string& value) -> absl::Status {
        ASSIGN_OR_RETURN(int64_t v, ParseInt(value));
        if (v < lo || v > hi)
          return Reason(absl::StrCat("must be in [", lo, ", ", hi, "], got ", v));
        if (extra) RETURN_IF_ERROR(extra(v));
        field(c) = static_cast<int32_t>(v);
        return absl::OkStatus();
      },
      [field](const ServerConfig& c) { return absl::StrCat(field(const_cast<ServerConfig&>(c))); }};
}

Setting SizeSetting(std::string key, std::function<int64_t&(ServerConfig&)> field) {
  return Setting{
      std::move(key),
      [field](ServerConfig& c, const std::string& value) -> absl::Status {
        ASSIGN_OR_RETURN(int64_t v, ParseByteSize(value));
        field(c) = v;
        return absl::OkStatus();
      },
      [field](const ServerConfig& c) { return absl::StrCat(field(const_cast<ServerConfig&>(c))); }};
}

Setting BoundedSizeSetting(std::string key, std::function<int64_t&(ServerConfig&)> field,
                           int64_t lo, int64_t hi) {
  return Setting{
      std::move(key),
      [field, lo, hi](ServerConfig& c, const std::string& value) -> absl::Status {
        ASSIGN_OR_RETURN(int64_t v, ParseByteSize(value));
        if (v < lo || v > hi) {
          return Reason(absl::StrCat("must be in [", lo, ", ", hi, "] bytes, got ", v));
        }
        field(c) = v;
        return absl::OkStatus();
      },
      [field](const ServerConfig& c) { return absl::StrCat(field(const_cast<ServerConfig&>(c))); }};
}

Setting BoolSetting(std::string key, std::function<bool&(ServerConfig&)> field) {
  Setting s{std::move(key),
            [field](ServerConfig& c, const std::string& value) -> absl::Status {
              ASSIGN_OR_RETURN(bool v, ParseBool(value));
              field(c) = v;
              return absl::OkStatus();
            },
            [field](const ServerConfig& c) {
              return std::string(field(const_cast<ServerConfig&>(c)) ? "true" : "false");
            }};
  s.is_bool = true;
  return s;
}

Setting StringSetting(std::string key, std::function<std::string&(ServerConfig&)> field,
                      std::function<absl::Status(const std::string&)> check = nullptr) {
  return Setting{std::move(key),
                 [field, check](ServerConfig& c, const std::string& value) -> absl::Status {
                   if (check) RETURN_IF_ERROR(check(value));
                   field(c) = value;
                   return absl::OkStatus();
                 },
                 [field](const ServerConfig& c) { return field(const_cast<ServerConfig&>(c)); }};
}

absl::Status CheckHostPort(const std::string& v) {
  const size_t colon = v.rfind(':');
  int64_t port = 0;
  if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(v.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return Reason(absl::StrCat("must be HOST:PORT with PORT in [0, 65535], got '", v, "'"));
  }
  return absl::OkStatus();
}

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

const std::vector<Setting>& Settings() {
  static const auto* settings = new std::vector<Setting>{
      StringSetting("model", [](ServerConfig& c) -> std::string& { return c.model; }),
      StringSetting("served_model_name",
                    [](ServerConfig& c) -> std::string& { return c.served_model_name; }),
      IntSetting(
          "max_loaded_models", [](ServerConfig& c) -> int32_t& { return c.max_loaded_models; }, 0,
          1024),
      SizeSetting("models_memory_budget",
                  [](ServerConfig& c) -> int64_t& { return c.models_memory_budget; }),
      StringSetting(
          "ollama_verify", [](ServerConfig& c) -> std::string& { return c.ollama_verify; },
          [](const std::string& v) {
            return v == "once" || v == "always" || v == "never"
                       ? absl::OkStatus()
                       : Reason(absl::StrCat("must be one of once, always, never, got '", v, "'"));
          }),
      StringSetting(
          "listen_address", [](ServerConfig& c) -> std::string& { return c.listen_address; },
          CheckHostPort),
      IntSetting(
          "threads", [](ServerConfig& c) -> int32_t& { return c.threads; }, 0, 1024),
      Setting{"device",
              [](ServerConfig& c, const std::string& value) -> absl::Status {
                const std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
                if (v == "auto") {
                  c.device.reset();
                  return absl::OkStatus();
                }
                ASSIGN_OR_RETURN(c.device, engine::ParseDeviceId(v));
                return absl::OkStatus();
              },
              [](const ServerConfig& c) {
                return c.device.has_value() ? c.device->ToString() : std::string("auto");
              }},
      IntSetting(
          "gpu_layers", [](ServerConfig& c) -> int32_t& { return c.gpu_layers; }, -1, 1 << 20),
      Setting{"devices",
              [](ServerConfig& c, const std::string& value) -> absl::Status {
                auto specs = engine::ParseStageSpecs(value);
                if (!specs.ok()) return Reason(std::string(specs.status().message()));
                c.devices = *std::move(specs);
                return absl::OkStatus();
              },
              [](const ServerConfig& c) {
                return c.devices.empty() ? std::string("[]") : engine::FormatStageSpecs(c.devices);
              }},
      Setting{"cpu_precision",
              [](ServerConfig& c, const std::string& value) -> absl::Status {
                const auto p = engine::cpu::ParseActPrecision(
                    absl::AsciiStrToLower(absl::StripAsciiWhitespace(value)));
                if (!p.has_value()) {
                  return Reason(absl::StrCat("must be one of q8, f32, got '", value, "'"));
                }
                c.cpu_precision = *p;
                return absl::OkStatus();
              },
              [](const ServerConfig& c) {
                return std::string(engine::cpu::ActPrecisionName(c.cpu_precision));
              }},
      Setting{"cuda_gemm",
              [](ServerConfig& c, const std::string& value) -> absl::Status {
                const auto m =
                    engine::ParseGemmMode(absl::AsciiStrToLower(absl::StripAsciiWhitespace(value)));
                if (!m.has_value()) {
                  return Reason(
                      absl::StrCat("must be one of invariant, fast, exact, got '", value, "'"));
                }
                c.cuda_gemm = *m;
                return absl::OkStatus();
              },
              [](const ServerConfig& c) { return std::string(engine::GemmModeName(c.cuda_gemm)); }},
      SizeSetting("kv_cache_bytes", [](ServerConfig& c) -> int64_t& { return c.kv_cache_bytes; }),
      Setting{"kv_cache_memory_fraction",
              [](ServerConfig& c, const std::string& value) -> absl::Status {
                ASSIGN_OR_RETURN(double v, ParseDouble(value));
                if (!(v > 0 && v <= 0.95)) {
                  return Reason(absl::StrCat("must be in (0, 0.95], got '", value, "'"));
                }
                c.kv_cache_memory_fraction = v;
                return absl::OkStatus();
              },
              [](const ServerConfig& c) { return absl::StrCat(c.kv_cache_memory_fraction); }},
      Setting{"kv_cache_dtype",
              [](ServerConfig& c, const std::string& value) -> absl::Status {
                const std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
                if (v == "auto") {
                  c.kv_cache_dtype.reset();
                  return absl::OkStatus();
                }
                const std::optional<engine::KvDtype> dtype = engine::ParseKvDtype(v);
                if (!dtype.has_value()) {
                  return Reason(absl::StrCat("must be one of auto, f16, f32, got '", value, "'"));
                }
                c.kv_cache_dtype = dtype;
                return absl::OkStatus();
              },
              [](const ServerConfig& c) {
                return std::string(
                    c.kv_cache_dtype.has_value() ? engine::KvDtypeName(*c.kv_cache_dtype) : "auto");
              }},
      IntSetting(
          "block_size", [](ServerConfig& c) -> int32_t& { return c.block_size; }, 1, 1024,
          [](int64_t v) {
            return (v & (v - 1)) == 0 ? absl::OkStatus()
                                      : Reason(absl::StrCat("must be a power of two, got ", v));
          }),
      SizeSetting("swap_space", [](ServerConfig& c) -> int64_t& { return c.swap_space; }),
      IntSetting(
          "max_num_seqs", [](ServerConfig& c) -> int32_t& { return c.max_num_seqs; }, 1, 4096),
      IntSetting(
          "max_num_batched_tokens",
          [](ServerConfig& c) -> int32_t& { return c.max_num_batched_tokens; }, 1, 1 << 20),
      IntSetting(
          "max_waiting_requests",
          [](ServerConfig& c) -> int32_t& { return c.max_waiting_requests; }, 1, 1 << 20),
      IntSetting(
          "max_model_len", [](ServerConfig& c) -> int32_t& { return c.max_model_len; }, 0, 1 << 24),
      BoolSetting("enable_prefix_caching",
                  [](ServerConfig& c) -> bool& { return c.enable_prefix_caching; }),
      BoolSetting("enable_chunked_prefill",
                  [](ServerConfig& c) -> bool& { return c.enable_chunked_prefill; }),
      Setting{
          "shutdown_grace_period",
          [](ServerConfig& c, const std::string& value) -> absl::Status {
            ASSIGN_OR_RETURN(double v, ParseDuration(value));
            if (v > 3600) return Reason(absl::StrCat("must be at most 3600s, got '", value, "'"));
            c.shutdown_grace_period_seconds = v;
            return absl::OkStatus();
          },
          [](const ServerConfig& c) { return absl::StrCat(c.shutdown_grace_period_seconds, "s"); }},
      Setting{"log_level",
              [](ServerConfig& c, const std::string& value) -> absl::Status {
                const std::string v = absl::AsciiStrToLower(value);
                for (LogLevel l :
                     {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning, LogLevel::kError}) {
                  if (v == LogLevelName(l)) {
                    c.log_level = l;
                    return absl::OkStatus();
                  }
                }
                return Reason(
                    absl::StrCat("must be one of debug, info, warning, error, got '", value, "'"));
              },
              [](const ServerConfig& c) { return std::string(LogLevelName(c.log_level)); }},
      BoolSetting("metrics.enabled", [](ServerConfig& c) -> bool& { return c.metrics.enabled; }),
      StringSetting(
          "metrics.listen_address",
          [](ServerConfig& c) -> std::string& { return c.metrics.listen_address; },
          [](const std::string& v) {
            return v.empty() ? Reason("must not be empty") : absl::OkStatus();
          }),
      IntSetting(
          "metrics.port", [](ServerConfig& c) -> int32_t& { return c.metrics.port; }, 1, 65535),
      StringSetting(
          "metrics.path", [](ServerConfig& c) -> std::string& { return c.metrics.path; },
          [](const std::string& v) {
            if (v.empty() || v[0] != '/') {
              return Reason(absl::StrCat("must start with '/', got '", v, "'"));
            }
            if (v == "/health" || v == "/ready") {
              return Reason(absl::StrCat("must not be ", v, " (served by the health checks)"));
            }
            return absl::OkStatus();
          }),
      BoolSetting("http.enabled", [](ServerConfig& c) -> bool& { return c.http.enabled; }),
      StringSetting(
          "http.listen_address",
          [](ServerConfig& c) -> std::string& { return c.http.listen_address; },
          [](const std::string& v) {
            return v.empty() ? Reason("must not be empty") : absl::OkStatus();
          }),
      IntSetting(
          "http.port", [](ServerConfig& c) -> int32_t& { return c.http.port; }, 0, 65535),
      IntSetting(
          "http.max_connections",
          [](ServerConfig& c) -> int32_t& { return c.http.max_connections; }, 1, 1 << 20),
      BoundedSizeSetting(
          "http.max_body_bytes", [](ServerConfig& c) -> int64_t& { return c.http.max_body_bytes; },
          1024, 1ll << 30),
      BoundedSizeSetting(
          "http.max_header_bytes",
          [](ServerConfig& c) -> int64_t& { return c.http.max_header_bytes; }, 1024, 1 << 20),
      Setting{
          "http.request_timeout",
          [](ServerConfig& c, const std::string& value) -> absl::Status {
            ASSIGN_OR_RETURN(double v, ParseDuration(value));
            if (v > 86400) return Reason(absl::StrCat("must be at most 86400s, got '", value, "'"));
            c.http.request_timeout_seconds = v;
            return absl::OkStatus();
          },
          [](const ServerConfig& c) { return absl::StrCat(c.http.request_timeout_seconds, "s"); }},
      IntSetting(
          "http.threads", [](ServerConfig& c) -> int32_t& { return c.http.threads; }, 1, 64),
      Setting{"api_keys",
              [](ServerConfig& c, const std::string& value) -> absl::Status {
                std::vector<std::string> keys;
                for (absl::string_view k : absl::StrSplit(value, ',')) {
                  k = absl::StripAsciiWhitespace(k);
                  if (!k.empty()) keys.emplace_back(k);
                }
                c.auth.api_keys = std::move(keys);
                return absl::OkStatus();
              },
              // Never print the keys themselves.
              [](const ServerConfig& c) {
                return absl::StrCat("<", c.auth.api_keys.size(), " keys>");
              }},
      StringSetting("api_keys_file",
                    [](ServerConfig& c) -> std::string& { return c.auth.api_keys_file; }),
      BoolSetting("auth.protect_metrics",
                  [](ServerConfig& c) -> bool& { return c.auth.protect_metrics; }),
      BoolSetting("auth.protect_health",
                  [](ServerConfig& c) -> bool& { return c.auth.protect_health; }),
      StringSetting("tls.cert_file",
                    [](ServerConfig& c) -> std::string& { return c.tls.cert_file; }),
      StringSetting("tls.key_file", [](ServerConfig& c) -> std::string& { return c.tls.key_file; }),
      StringSetting("tls.client_ca_file",
                    [](ServerConfig& c) -> std::string& { return c.tls.client_ca_file; }),
      StringSetting(
          "model_load", [](ServerConfig& c) -> std::string& { return c.model_load; },
          [](const std::string& v) {
            return v == "copy" || v == "mmap"
                       ? absl::OkStatus()
                       : Reason(absl::StrCat("must be copy or mmap, got '", v, "'"));
          }),
      BoolSetting("grpc_reflection", [](ServerConfig& c) -> bool& { return c.grpc_reflection; }),
      IntSetting(
          "min_client_priority", [](ServerConfig& c) -> int32_t& { return c.min_client_priority; },
          std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()),
      BoolSetting("parse_special_in_chat",
                  [](ServerConfig& c) -> bool& { return c.parse_special_in_chat; }),
      Setting{"max_stream_buffer_bytes",
              [](ServerConfig& c, const std::string& value) -> absl::Status {
                ASSIGN_OR_RETURN(int64_t v, ParseByteSize(value));
                if (v < 4096 || v > (int64_t{1} << 32)) {
                  return Reason(absl::StrCat("must be in [4KiB, 4GiB], got '", value, "'"));
                }
                c.max_stream_buffer_bytes = v;
                return absl::OkStatus();
              },
              [](const ServerConfig& c) { return absl::StrCat(c.max_stream_buffer_bytes); }},
  };
  return *settings;
}

const Setting* FindSetting(const std::string& key) {
  for (const Setting& s : Settings()) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

// "--metrics-port", "metrics_port", "metrics.port" -> the setting.
const Setting* FindFlag(const std::string& flag) {
  auto norm = [](std::string s) {
    for (char& ch : s) {
      if (ch == '-' || ch == '.') ch = '_';
    }
    return s;
  };
  const std::string want = norm(flag);
  for (const Setting& s : Settings()) {
    if (norm(s.key) == want) return &s;
  }
  return nullptr;
}

absl::Status Apply(const Setting& s, ServerConfig& config, const std::string& value,
                   const std::string& origin, std::map<std::string, std::string>& origins) {
  absl::Status st = s.set(config, value);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config key '", s.key, "' (from ", origin, "): ", st.message()));
  }
  origins[s.key] = origin;
  return absl::OkStatus();
}

// `devices` as a YAML list: each item a SPEC string ("cpu:0-14") or a mapping
// {device, layers, threads, memory}; returned as the SPEC,SPEC... form.
absl::StatusOr<std::string> StageSpecsFromYaml(const YAML::Node& list, const std::string& origin) {
  std::vector<std::string> specs;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node& item = list[i];
    auto bad = [&](const std::string& why) {
      return absl::InvalidArgumentError(
          absl::StrCat("config key 'devices' (from ", origin, "): item ", i, ": ", why));
    };
    if (item.IsScalar()) {
      specs.push_back(item.Scalar());
      continue;
    }
    if (!item.IsMap()) return bad("must be a string such as cpu:0-14 or a mapping");
    std::string spec;
    for (const auto& field : item) {
      const std::string name = field.first.Scalar();
      if (!field.second.IsScalar()) return bad(absl::StrCat("'", name, "' must be a single value"));
      const std::string value = field.second.Scalar();
      if (name == "device") {
        spec = value + spec;
      } else if (name == "layers") {
        spec += ":" + value;
      } else if (name == "threads" || name == "memory") {
        spec += ":" + name + "=" + value;
      } else {
        return bad(absl::StrCat("unknown field '", name,
                                "' (a stage has device, layers, threads, memory)"));
      }
    }
    if (!item["device"]) return bad("needs a device (cpu, cuda:N)");
    specs.push_back(spec);
  }
  return absl::StrJoin(specs, ",");
}

absl::Status ApplyYaml(const YAML::Node& node, const std::string& prefix, const std::string& origin,
                       ServerConfig& config, std::map<std::string, std::string>& origins) {
  if (node.IsNull()) return absl::OkStatus();
  if (!node.IsMap()) {
    return absl::InvalidArgumentError(
        prefix.empty() ? absl::StrCat("config ", origin, ": the top level must be a mapping")
                       : absl::StrCat("config key '", prefix.substr(0, prefix.size() - 1),
                                      "' (from ", origin, "): must be a mapping"));
  }
  std::set<std::string> seen;  // yaml-cpp keeps duplicate keys; YAML forbids them
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat("config ", origin, ": keys must be strings"));
    }
    const std::string key = prefix + kv.first.Scalar();
    if (!seen.insert(key).second) {
      return absl::InvalidArgumentError(absl::StrCat("config key '", key, "' (from ", origin,
                                                     "): given twice (line ",
                                                     kv.first.Mark().line + 1, ")"));
    }
    if (prefix.empty() && (key == "metrics" || key == "http" || key == "auth" || key == "tls")) {
      RETURN_IF_ERROR(ApplyYaml(kv.second, key + ".", origin, config, origins));
      continue;
    }
    if (key == "models") {
      ASSIGN_OR_RETURN(config.models, ParseModelsYaml(kv.second, origin));
      origins["models"] = origin;
      continue;
    }
    const Setting* s = FindSetting(key);
    if (s == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("config key '", key, "' (from ", origin, "): unknown key"));
    }
    if (key == "devices" && kv.second.IsSequence()) {
      ASSIGN_OR_RETURN(const std::string specs, StageSpecsFromYaml(kv.second, origin));
      RETURN_IF_ERROR(Apply(*s, config, specs, origin, origins));
      continue;
    }
    if (key == "api_keys" && kv.second.IsSequence()) {
      // A YAML list of keys: the same as the comma-separated form.
      std::string joined;
      for (const auto& item : kv.second) {
        if (!item.IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat("config key 'api_keys' (from ", origin, "): must be a list of strings"));
        }
        if (item.Scalar().find(',') != std::string::npos) {
          return absl::InvalidArgumentError(absl::StrCat("config key 'api_keys' (from ", origin,
                                                         "): a key must not contain ','"));
        }
        absl::StrAppend(&joined, joined.empty() ? "" : ",", item.Scalar());
      }
      RETURN_IF_ERROR(Apply(*s, config, joined, origin, origins));
      continue;
    }
    if (!kv.second.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat("config key '", key, "' (from ", origin,
                                                     "): must be a single value, not a ",
                                                     kv.second.IsMap() ? "mapping" : "list"));
    }
    RETURN_IF_ERROR(Apply(*s, config, kv.second.Scalar(), origin, origins));
  }
  return absl::OkStatus();
}

// Splits "1.5GiB" into number and unit.
bool SplitNumber(const std::string& text, double* number, std::string* unit) {
  const std::string t(absl::StripAsciiWhitespace(text));
  size_t i = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
  if (i == 0) return false;
  if (!absl::SimpleAtod(t.substr(0, i), number)) return false;
  *unit = absl::AsciiStrToLower(absl::StripAsciiWhitespace(t.substr(i)));
  return true;
}

}  // namespace

absl::StatusOr<int64_t> ParseByteSize(const std::string& text) {
  double number = 0;
  std::string unit;
  auto bad = [&] {
    return Reason(
        absl::StrCat("must be a byte size such as 512MiB, 2GB or 1048576, got '", text, "'"));
  };
  if (!SplitNumber(text, &number, &unit)) return bad();
  static const std::map<std::string, double> kUnits = {{"", 1},
                                                       {"b", 1},
                                                       {"k", 1024.0},
                                                       {"kib", 1024.0},
                                                       {"kb", 1e3},
                                                       {"m", 1024.0 * 1024},
                                                       {"mib", 1024.0 * 1024},
                                                       {"mb", 1e6},
                                                       {"g", 1024.0 * 1024 * 1024},
                                                       {"gib", 1024.0 * 1024 * 1024},
                                                       {"gb", 1e9},
                                                       {"t", 1024.0 * 1024 * 1024 * 1024},
                                                       {"tib", 1024.0 * 1024 * 1024 * 1024},
                                                       {"tb", 1e12}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) return bad();
  const double bytes = number * it->second;
  if (!(bytes >= 0 && bytes <= std::ldexp(1.0, 62))) return bad();
  return static_cast<int64_t>(bytes);
}

absl::StatusOr<double> ParseDuration(const std::string& text) {
  double number = 0;
  std::string unit;
  if (SplitNumber(text, &number, &unit)) {
    if (unit.empty() || unit == "s") return number;
    if (unit == "ms") return number / 1e3;
    if (unit == "m" || unit == "min") return number * 60;
  }
  return Reason(absl::StrCat("must be a duration such as 30s, 500ms or 2m, got '", text, "'"));
}

absl::StatusOr<std::string> ReadConfigFile(const std::string& path) {
  auto fail = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read config file ", path, ": ", why));
  };
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return fail(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
  }
  std::string text;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return fail(std::strerror(err));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > (size_t{16} << 20)) {
      ::close(fd);
      return fail("larger than 16 MiB");
    }
  }
  ::close(fd);
  return text;
}

engine::EngineConfig ServerConfig::ToEngineConfig() const {
  engine::EngineConfig e;
  e.device.device = device;
  e.device.gpu_layers = gpu_layers;
  e.device.devices = devices;
  e.device.threads = threads > 0 ? threads : common::UsableCpuCount();
  e.device.cpu_precision = cpu_precision;
  e.device.cuda_gemm = cuda_gemm;
  e.kv_cache.bytes = kv_cache_bytes;
  e.kv_cache.memory_fraction = kv_cache_memory_fraction;
  e.kv_cache.swap_space_bytes = swap_space;
  e.kv_cache.dtype = kv_cache_dtype;
  scheduler::SchedulerConfig& s = e.scheduler;
  s.block_size = block_size;
  s.max_num_seqs = max_num_seqs;
  s.max_num_batched_tokens = max_num_batched_tokens;
  s.max_waiting_requests = max_waiting_requests;
  s.max_model_len = max_model_len;
  s.enable_prefix_caching = enable_prefix_caching;
  s.enable_chunked_prefill = enable_chunked_prefill;
  return e;
}

std::string EnvVarName(const std::string& key) {
  std::string name = "HEARTH_";
  for (char ch : key) {
    name += ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  return name;
}

std::vector<std::string> ConfigKeys() {
  std::vector<std::string> keys;
  for (const Setting& s : Settings()) keys.push_back(s.key);
  return keys;
}

absl::StatusOr<LoadedConfig> LoadServerConfig(const ConfigSources& sources) {
  LoadedConfig loaded;
  std::map<std::string, std::string> origins;
  // 1. YAML.
  if (!sources.yaml_text.empty()) {
    const std::string origin = absl::StrCat("file ", sources.yaml_name);
    YAML::Node root;
    try {
      root = YAML::Load(sources.yaml_text);
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("config ", origin, ": ", e.what()));
    }
    RETURN_IF_ERROR(ApplyYaml(root, "", origin, loaded.config, origins));
  }
  // 2. Environment.
  for (const Setting& s : Settings()) {
    const std::string name = EnvVarName(s.key);
    for (const auto& [env_name, value] : sources.env) {
      if (env_name != name || value.empty()) continue;
      RETURN_IF_ERROR(Apply(s, loaded.config, value, absl::StrCat("env ", name), origins));
    }
  }
  // 3. Flags. `--model` more than once: one eager model per flag, replacing `models:`.
  std::vector<ModelConfig> flag_models;
  for (const auto& [flag, value] : sources.flags) {
    const Setting* s = FindFlag(flag);
    if (s == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", flag));
    }
    RETURN_IF_ERROR(Apply(*s, loaded.config, value, absl::StrCat("flag --", flag), origins));
    if (s->key == "model") {
      ModelConfig m;
      m.model = value;
      flag_models.push_back(std::move(m));
    }
  }
  if (flag_models.size() > 1) {
    loaded.config.models = std::move(flag_models);
    loaded.config.model.clear();
    origins["models"] = "flag --model";
  } else if (flag_models.size() == 1) {
    loaded.config.models.clear();  // one --model overrides the file's list
  }
  if (!loaded.config.models.empty() && !loaded.config.model.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config keys 'model' (from ", origins["model"], ") and 'models' (from ",
                     origins["models"], ") exclude each other: list every model under 'models'"));
  }
  if (!loaded.config.models.empty() && !loaded.config.served_model_name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config key 'served_model_name' (from ", origins["served_model_name"],
                     "): with 'models', give each model its 'name' instead"));
  }
  for (const Setting& s : Settings()) {
    auto it = origins.find(s.key);
    loaded.origins.emplace_back(s.key, it == origins.end() ? "default" : it->second);
  }
  return loaded;
}

std::vector<ModelConfig> ServerConfig::ServedModels() const {
  if (!models.empty()) return models;
  ModelConfig one;
  one.name = served_model_name;
  one.model = model;
  return {one};
}

std::vector<std::string> DescribeConfig(const LoadedConfig& loaded) {
  std::vector<std::string> lines;
  for (size_t i = 0; i < Settings().size(); ++i) {
    const Setting& s = Settings()[i];
    lines.push_back(absl::StrCat(s.key, " = ", s.get(loaded.config), " (",
                                 i < loaded.origins.size() ? loaded.origins[i].second : "default",
                                 ")"));
  }
  for (size_t i = 0; i < loaded.config.models.size(); ++i) {
    lines.push_back(
        absl::StrCat("models[", i, "]: ", DescribeModelConfig(loaded.config.models[i])));
  }
  return lines;
}

absl::StatusOr<ServeArgs> ParseServeArgs(const std::vector<std::string>& args) {
  std::vector<cli::FlagSpec> specs = {{"config", true, ""}, {"help", false, ""}};
  for (const Setting& s : Settings()) {
    specs.push_back({cli::NormalizeFlagName(s.key), !s.is_bool, ""});
  }
  ASSIGN_OR_RETURN(cli::ParsedArgs parsed, cli::ParsedArgs::Parse(specs, args));
  if (!parsed.positional().empty() || !parsed.rest().empty()) {
    const std::string& first =
        parsed.positional().empty() ? parsed.rest().front() : parsed.positional().front();
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", first, "'"));
  }
  ServeArgs out;
  for (const cli::ParsedArgs::Given& g : parsed.given()) {
    if (g.name == "help") {
      out.help = g.value == "true";
    } else if (g.name == "config") {
      out.config_file = g.value;
    } else {
      out.flags.emplace_back(g.spelled, g.value);
    }
  }
  return out;
}

}  // namespace hearth::server
