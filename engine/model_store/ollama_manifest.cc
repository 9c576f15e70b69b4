#include "engine/model_store/ollama_manifest.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace hearth::engine::model_store {
namespace {

using Json = nlohmann::json;

absl::StatusOr<Json> ParseJson(std::string_view text, std::string_view what) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Re-parse with exceptions for the byte position of the error.
    std::string detail = "malformed JSON";
    try {
      const Json again = Json::parse(text.begin(), text.end());
      (void)again;
    } catch (const Json::parse_error& e) {
      detail = absl::StrCat("malformed JSON at byte ", e.byte);
    }
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), ": ", detail));
  }
  return j;
}

absl::StatusOr<OllamaLayer> ParseLayer(const Json& j, const std::string& where) {
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, " is not an object"));
  auto media = j.find("mediaType");
  auto digest = j.find("digest");
  auto size = j.find("size");
  if (media == j.end() || !media->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".mediaType is missing"));
  }
  if (digest == j.end() || !digest->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".digest is missing"));
  }
  if (size == j.end() || !size->is_number_unsigned()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".size is missing or not a non-negative integer"));
  }
  OllamaLayer layer;
  layer.media_type = media->get<std::string>();
  const std::string d = digest->get<std::string>();
  bool hex = d.size() == 7 + 64 && d.compare(0, 7, "sha256:") == 0;
  for (size_t i = 7; hex && i < d.size(); ++i) {
    hex = absl::ascii_isxdigit(static_cast<unsigned char>(d[i])) &&
          !absl::ascii_isupper(static_cast<unsigned char>(d[i]));
  }
  if (!hex) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".digest '", d.substr(0, 80), "' is not sha256:<64 hex digits>"));
  }
  layer.sha256 = d.substr(7);
  layer.size = size->get<uint64_t>();
  return layer;
}

template <typename T>
absl::Status Read(const Json& j, const char* key, std::optional<T>* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if constexpr (std::is_floating_point_v<T>) {
    if (!it->is_number()) {
      return absl::InvalidArgumentError(absl::StrCat("params.", key, " must be a number"));
    }
  } else {
    if (!it->is_number_integer()) {
      return absl::InvalidArgumentError(absl::StrCat("params.", key, " must be an integer"));
    }
  }
  *out = it->get<T>();
  return absl::OkStatus();
}

}  // namespace

const OllamaLayer* OllamaManifest::Find(std::string_view media_type) const {
  for (const OllamaLayer& l : layers) {
    if (l.media_type == media_type) return &l;
  }
  return nullptr;
}

uint64_t OllamaManifest::TotalSize() const {
  uint64_t n = config ? config->size : 0;
  for (const OllamaLayer& l : layers) n += l.size;
  return n;
}

absl::StatusOr<OllamaManifest> ParseOllamaManifest(std::string_view json) {
  auto j = ParseJson(json, "manifest");
  if (!j.ok()) return j.status();
  if (!j->is_object()) return absl::InvalidArgumentError("manifest is not a JSON object");
  OllamaManifest m;
  auto layers = j->find("layers");
  if (layers == j->end() || !layers->is_array()) {
    return absl::InvalidArgumentError("manifest has no \"layers\" array");
  }
  for (size_t i = 0; i < layers->size(); ++i) {
    auto layer = ParseLayer((*layers)[i], absl::StrCat("manifest layers[", i, "]"));
    if (!layer.ok()) return layer.status();
    m.layers.push_back(*std::move(layer));
  }
  if (auto config = j->find("config"); config != j->end() && !config->is_null()) {
    auto layer = ParseLayer(*config, "manifest config");
    if (!layer.ok()) return layer.status();
    m.config = *std::move(layer);
  }
  return m;
}

absl::StatusOr<OllamaParams> ParseOllamaParams(std::string_view json) {
  auto parsed = ParseJson(json, "params layer");
  if (!parsed.ok()) return parsed.status();
  const Json& j = *parsed;
  if (!j.is_object()) return absl::InvalidArgumentError("params layer is not a JSON object");
  OllamaParams p;
  for (absl::Status st : {Read(j, "temperature", &p.temperature), Read(j, "top_p", &p.top_p),
                          Read(j, "top_k", &p.top_k), Read(j, "min_p", &p.min_p),
                          Read(j, "repeat_penalty", &p.repeat_penalty),
                          Read(j, "presence_penalty", &p.presence_penalty),
                          Read(j, "frequency_penalty", &p.frequency_penalty),
                          Read(j, "num_predict", &p.num_predict), Read(j, "num_ctx", &p.num_ctx)}) {
    if (!st.ok()) return st;
  }
  if (auto it = j.find("seed"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer())
      return absl::InvalidArgumentError("params.seed must be an integer");
    // A negative seed means "random" in Ollama.
    if (it->get<int64_t>() >= 0) p.seed = it->get<uint64_t>();
  }
  // Ollama: num_predict -1 is "infinite", -2 "fill the context": leave max_tokens unset.
  if (p.num_predict && *p.num_predict < 0) p.num_predict.reset();
  if (auto it = j.find("stop"); it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      p.stop.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const Json& s : *it) {
        if (!s.is_string()) return absl::InvalidArgumentError("params.stop must hold strings");
        p.stop.push_back(s.get<std::string>());
      }
    } else {
      return absl::InvalidArgumentError("params.stop must be a string or a list of strings");
    }
  }
  static const char* const kKnown[] = {"temperature",
                                       "top_p",
                                       "top_k",
                                       "min_p",
                                       "repeat_penalty",
                                       "presence_penalty",
                                       "frequency_penalty",
                                       "seed",
                                       "num_predict",
                                       "num_ctx",
                                       "stop"};
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known) p.ignored.push_back(key);
  }
  return p;
}

OllamaConfig ParseOllamaConfig(std::string_view json) {
  OllamaConfig c;
  Json j = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return c;
  auto str = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  c.model_family = str("model_family");
  c.file_type = str("file_type");
  c.model_type = str("model_type");
  return c;
}

}  // namespace hearth::engine::model_store
