#include "server/config/models_config.h"

#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "server/config/server_config.h"

namespace hearth::server {
namespace {

// "0.5" -> a share; "512MiB" / "1048576" -> bytes.
absl::Status ParseKvCache(const std::string& text, ModelConfig& m) {
  double share = 0;
  if (absl::SimpleAtod(absl::StripAsciiWhitespace(text), &share) && share <= 1) {
    if (!(share > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "must be a share in (0, 1] or a byte size such as 512MiB, got '", text, "'"));
    }
    m.kv_cache_share = share;
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(m.kv_cache_bytes, ParseByteSize(text));
  if (m.kv_cache_bytes <= 0) return absl::InvalidArgumentError("must be positive");
  return absl::OkStatus();
}

// Errors: "config key 'models[1].lazy' (from file x.yaml): why".
absl::Status Bad(const std::string& key, const std::string& origin, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("config key '", key, "' (from ", origin, "): ", why));
}

absl::StatusOr<ModelConfig> ParseOne(const YAML::Node& item, const std::string& where,
                                     const std::string& origin) {
  ModelConfig m;
  if (item.IsScalar()) {  // "- /path/model.gguf" or "- smollm2:135m"
    m.model = item.Scalar();
    return m;
  }
  if (!item.IsMap()) {
    return Bad(where, origin, "must be a mapping (name, model, ...) or a model path");
  }
  std::set<std::string> seen;
  for (const auto& field : item) {
    const std::string key = field.first.Scalar();
    const std::string at = absl::StrCat(where, ".", key);
    auto bad = [&](absl::string_view why) { return Bad(at, origin, why); };
    if (!seen.insert(key).second) return bad("given twice");
    if (key == "aliases") {
      if (field.second.IsScalar()) {
        m.aliases.push_back(field.second.Scalar());
        continue;
      }
      if (!field.second.IsSequence()) return bad("must be a list of names");
      for (const auto& alias : field.second) {
        if (!alias.IsScalar() || alias.Scalar().empty()) return bad("must be a list of names");
        m.aliases.push_back(alias.Scalar());
      }
      continue;
    }
    if (!field.second.IsScalar()) return bad("must be a single value");
    const std::string value = field.second.Scalar();
    absl::Status st;
    if (key == "name") {
      if (value.empty()) return bad("must not be empty");
      m.name = value;
    } else if (key == "model" || key == "path") {
      if (!m.model.empty()) return bad("give one of model and path");
      m.model = value;
    } else if (key == "max_num_seqs") {
      int64_t v = 0;
      if (!absl::SimpleAtoi(value, &v) || v < 1 || v > 4096) {
        return bad(absl::StrCat("must be an integer in [1, 4096], got '", value, "'"));
      }
      m.max_num_seqs = static_cast<int32_t>(v);
    } else if (key == "kv_cache") {
      st = ParseKvCache(value, m);
    } else if (key == "keep_alive") {
      auto seconds = ParseKeepAlive(value);
      if (!seconds.ok()) return bad(seconds.status().message());
      m.keep_alive_seconds = *seconds;
    } else if (key == "lazy") {
      const std::string v = absl::AsciiStrToLower(value);
      if (v == "true" || v == "yes" || v == "on") {
        m.lazy = true;
      } else if (v == "false" || v == "no" || v == "off") {
        m.lazy = false;
      } else {
        return bad(absl::StrCat("must be true or false, got '", value, "'"));
      }
    } else {
      return bad(
          "unknown key (a model has name, model (or path), aliases, max_num_seqs, kv_cache, "
          "keep_alive, lazy)");
    }
    if (!st.ok()) return bad(st.message());
  }
  if (m.model.empty()) {
    return Bad(where, origin, "needs a model (a GGUF path or an Ollama NAME:TAG)");
  }
  if (!m.lazy && m.keep_alive_seconds.has_value() && *m.keep_alive_seconds >= 0) {
    return Bad(where + ".keep_alive", origin,
               "only lazy models are unloaded when idle (eager models stay loaded); set lazy: "
               "true");
  }
  return m;
}

}  // namespace

absl::StatusOr<double> ParseKeepAlive(const std::string& text) {
  const std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (t == "-1" || t == "-1s" || t == "forever" || t == "infinite") return -1.0;
  auto seconds = ParseDuration(t);
  if (!seconds.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "must be a duration such as 30s, 500ms or 5m, or -1 / forever, got '", text, "'"));
  }
  return *seconds;
}

absl::StatusOr<std::vector<ModelConfig>> ParseModelsYaml(const YAML::Node& list,
                                                         const std::string& origin) {
  if (!list.IsSequence() || list.size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat("config key 'models' (from ", origin,
                                                   "): must be a non-empty list of models"));
  }
  std::vector<ModelConfig> models;
  for (size_t i = 0; i < list.size(); ++i) {
    ASSIGN_OR_RETURN(ModelConfig m, ParseOne(list[i], absl::StrCat("models[", i, "]"), origin));
    models.push_back(std::move(m));
  }
  return models;
}

absl::Status CheckModelNames(const std::vector<ModelConfig>& models) {
  std::map<std::string, size_t> owner;
  for (size_t i = 0; i < models.size(); ++i) {
    std::vector<std::string> names = {models[i].name};
    names.insert(names.end(), models[i].aliases.begin(), models[i].aliases.end());
    for (const std::string& name : names) {
      if (name.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("models[", i, "].name: must not be empty"));
      }
      auto [it, inserted] = owner.emplace(name, i);
      if (!inserted) {
        return absl::InvalidArgumentError(
            absl::StrCat("models: name '", name, "' is used twice (models[", it->second,
                         "] and models[", i, "]); give each model its own name and aliases"));
      }
    }
  }
  return absl::OkStatus();
}

std::string DescribeModelConfig(const ModelConfig& m) {
  std::string kv = m.kv_cache_bytes > 0   ? absl::StrCat(m.kv_cache_bytes, " bytes")
                   : m.kv_cache_share > 0 ? absl::StrCat(m.kv_cache_share, " of the budget")
                                          : "even share";
  return absl::StrCat(
      "name=", m.name, " model=", m.model,
      m.aliases.empty() ? "" : absl::StrCat(" aliases=", absl::StrJoin(m.aliases, ",")),
      " lazy=", m.lazy ? "true" : "false",
      m.lazy ? absl::StrCat(" keep_alive=", m.KeepAliveSeconds() < 0
                                                ? "forever"
                                                : absl::StrCat(m.KeepAliveSeconds(), "s"))
             : "",
      m.max_num_seqs > 0 ? absl::StrCat(" max_num_seqs=", m.max_num_seqs) : "", " kv_cache=", kv);
}

}  // namespace hearth::server
