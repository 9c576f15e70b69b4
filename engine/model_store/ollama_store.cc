#include "engine/model_store/ollama_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "engine/gguf/gguf_file.h"

namespace hearth::engine::model_store {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxSmallLayer = 16 << 20;  // manifests, templates, params: never this big

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, std::string_view what) {
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat(std::string(what), " ", path, " is missing"));
  }
  if (size > kMaxSmallLayer) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), " ", path, " is ", size, " bytes, too large"));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  if (!in) return absl::InternalError(absl::StrCat("cannot read ", path));
  return s.str();
}

absl::Status WithModel(const absl::Status& st, const OllamaName& name) {
  return absl::Status(st.code(), absl::StrCat("model '", name.DisplayName(), "': ", st.message()));
}

}  // namespace

std::string FileTypeName(uint32_t file_type) {
  static const char* const kNames[] = {
      "F32",    "F16",    "Q4_0",  "Q4_1",    "Q4_1_SOME_F16", "",       "",       "Q8_0",
      "Q5_0",   "Q5_1",   "Q2_K",  "Q3_K_S",  "Q3_K_M",        "Q3_K_L", "Q4_K_S", "Q4_K_M",
      "Q5_K_S", "Q5_K_M", "Q6_K",  "IQ2_XXS", "IQ2_XS",        "Q2_K_S", "IQ3_XS", "IQ3_XXS",
      "IQ1_S",  "IQ4_NL", "IQ3_S", "IQ3_M",   "IQ2_S",         "IQ2_M",  "IQ4_XS", "IQ1_M",
      "BF16",   "",       "",      "",        "TQ1_0",         "TQ2_0"};
  return file_type < std::size(kNames) ? kNames[file_type] : "";
}

std::string OllamaStore::DefaultRoot() {
  if (const char* env = std::getenv("OLLAMA_MODELS"); env != nullptr && *env != '\0') return env;
  const char* home = std::getenv("HOME");
  return absl::StrCat(home != nullptr ? home : "", "/.ollama/models");
}

std::string OllamaStore::BlobPath(std::string_view sha256) const {
  const std::string path = absl::StrCat(root_, "/blobs/sha256-", std::string(sha256));
  std::error_code ec;
  if (fs::exists(path, ec)) return path;
  // Ollama before 0.1.30 named blobs "sha256:<hex>".
  const std::string old = absl::StrCat(root_, "/blobs/sha256:", std::string(sha256));
  return fs::exists(old, ec) ? old : path;
}

bool OllamaStore::Has(std::string_view name) const {
  auto parsed = ParseOllamaName(name);
  if (!parsed.ok()) return false;
  std::error_code ec;
  return fs::is_regular_file(absl::StrCat(root_, "/manifests/", parsed->ManifestRelativePath()),
                             ec);
}

absl::StatusOr<OllamaModel> OllamaStore::Resolve(std::string_view text, VerifyMode verify,
                                                 const std::string& verify_cache_path) const {
  auto name = ParseOllamaName(text);
  if (!name.ok()) return name.status();
  OllamaModel m;
  m.name = *name;
  m.manifest_path = absl::StrCat(root_, "/manifests/", name->ManifestRelativePath());
  std::error_code ec;
  if (!fs::is_regular_file(m.manifest_path, ec)) {
    return absl::NotFoundError(absl::StrCat(
        "model '", name->DisplayName(), "' is not in the Ollama store at ", root_, " (no ",
        m.manifest_path, "; `hearth models` lists the store, OLLAMA_MODELS moves it)"));
  }
  auto text_or = ReadSmallFile(m.manifest_path, "manifest");
  if (!text_or.ok()) return WithModel(text_or.status(), *name);
  auto manifest = ParseOllamaManifest(*text_or);
  if (!manifest.ok()) {
    return WithModel(absl::InvalidArgumentError(
                         absl::StrCat(manifest.status().message(), " (", m.manifest_path, ")")),
                     *name);
  }
  m.total_size = manifest->TotalSize();
  const OllamaLayer* model = manifest->Find(kMediaTypeModel);
  if (model == nullptr) {
    return WithModel(
        absl::InvalidArgumentError(absl::StrCat("manifest ", m.manifest_path,
                                                " has no layer of media type ", kMediaTypeModel)),
        *name);
  }
  if (manifest->Find(kMediaTypeAdapter) != nullptr) {
    return WithModel(
        absl::InvalidArgumentError("it has a LoRA adapter layer, which Hearth does not support"),
        *name);
  }
  if (manifest->Find(kMediaTypeProjector) != nullptr) {
    m.notes.push_back("vision projector layer ignored (text only)");
  }
  m.gguf_path = BlobPath(model->sha256);
  m.gguf_size = model->size;
  if (!fs::exists(m.gguf_path, ec)) {
    return WithModel(absl::NotFoundError(absl::StrCat(
                         "its model blob ", m.gguf_path,
                         " is missing (the store is incomplete: pull the model again)")),
                     *name);
  }
  auto verified = VerifyBlob(m.gguf_path, model->sha256, model->size, verify, verify_cache_path);
  if (!verified.ok()) return WithModel(verified.status(), *name);
  m.verify = *verified;
  // Small layers: read, size-checked; their sha256 is cheap, so always checked.
  auto small = [&](const OllamaLayer& layer, std::string_view what) -> absl::StatusOr<std::string> {
    const std::string path = BlobPath(layer.sha256);
    auto st = VerifyBlob(path, layer.sha256, layer.size, VerifyMode::kAlways, "");
    if (!st.ok()) return WithModel(st.status(), *name);
    auto body = ReadSmallFile(path, what);
    if (!body.ok()) return WithModel(body.status(), *name);
    return body;
  };
  if (const OllamaLayer* t = manifest->Find(kMediaTypeTemplate)) {
    auto body = small(*t, "template layer");
    if (!body.ok()) return body.status();
    m.template_text = *std::move(body);
  }
  if (const OllamaLayer* s = manifest->Find(kMediaTypeSystem)) {
    auto body = small(*s, "system layer");
    if (!body.ok()) return body.status();
    m.system = *std::move(body);
  }
  if (const OllamaLayer* p = manifest->Find(kMediaTypeParams)) {
    auto body = small(*p, "params layer");
    if (!body.ok()) return body.status();
    auto params = ParseOllamaParams(*body);
    if (!params.ok()) return WithModel(params.status(), *name);
    if (!params->ignored.empty()) {
      std::string keys;
      for (const std::string& k : params->ignored)
        absl::StrAppend(&keys, keys.empty() ? "" : ", ", k);
      m.notes.push_back(absl::StrCat("params ignored (no Hearth equivalent): ", keys));
    }
    m.params = *std::move(params);
  }
  if (manifest->config) {
    auto body = ReadSmallFile(BlobPath(manifest->config->sha256), "config blob");
    if (body.ok()) m.config = ParseOllamaConfig(*body);
  }
  return m;
}

absl::StatusOr<std::vector<OllamaStore::Entry>> OllamaStore::List() const {
  const fs::path manifests = fs::path(root_) / "manifests";
  std::error_code ec;
  if (!fs::is_directory(manifests, ec)) {
    return absl::NotFoundError(absl::StrCat("no Ollama store at ", root_, " (", manifests.string(),
                                            " is not a directory; set OLLAMA_MODELS)"));
  }
  std::vector<Entry> out;
  for (auto it = fs::recursive_directory_iterator(manifests, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const fs::path rel = fs::relative(it->path(), manifests, ec);
    std::vector<std::string> parts;
    for (const auto& p : rel) parts.push_back(p.string());
    if (parts.size() != 4) continue;  // host/namespace/model/tag
    Entry e;
    e.name.host = parts[0];
    e.name.name_space = parts[1];
    e.name.model = parts[2];
    e.name.tag = parts[3];
    struct stat st;
    if (::stat(it->path().c_str(), &st) == 0) e.modified_unix = st.st_mtim.tv_sec;
    if (auto digest = Sha256File(it->path().string()); digest.ok()) e.id = digest->substr(0, 12);
    auto text = ReadSmallFile(it->path().string(), "manifest");
    auto manifest =
        text.ok() ? ParseOllamaManifest(*text) : absl::StatusOr<OllamaManifest>(text.status());
    if (!manifest.ok()) {
      e.error = std::string(manifest.status().message());
      out.push_back(std::move(e));
      continue;
    }
    e.size = manifest->TotalSize();
    const OllamaLayer* model = manifest->Find(kMediaTypeModel);
    if (model == nullptr) {
      e.error = "no model layer";
    } else if (!fs::exists(BlobPath(model->sha256), ec)) {
      e.error = absl::StrCat("model blob sha256-", model->sha256.substr(0, 12), "... missing");
    }
    if (manifest->config) {
      auto body = ReadSmallFile(BlobPath(manifest->config->sha256), "config blob");
      if (body.ok()) {
        const OllamaConfig c = ParseOllamaConfig(*body);
        e.family = c.model_family;
        e.quantization = c.file_type;
        e.parameters = c.model_type;
      }
    }
    if (e.error.empty() && (e.family.empty() || e.quantization.empty())) {
      // No config blob (or an empty one): read the GGUF's header.
      auto gguf = GgufFile::Open(BlobPath(model->sha256));
      if (gguf.ok()) {
        if (e.family.empty()) e.family = (*gguf)->GetString("general.architecture").value_or("");
        if (e.quantization.empty()) {
          auto ft = (*gguf)->GetUint("general.file_type");
          if (ft.ok()) e.quantization = FileTypeName(static_cast<uint32_t>(*ft));
        }
      } else {
        e.error = std::string(gguf.status().message());
      }
    }
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    return a.name.DisplayName() < b.name.DisplayName();
  });
  return out;
}

}  // namespace hearth::engine::model_store
