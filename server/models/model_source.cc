#include "server/models/model_source.h"

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hearth::server {

namespace ms = engine::model_store;

std::string FileStem(const std::string& path) {
  std::string name = path.substr(path.find_last_of('/') + 1);
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".gguf") == 0) {
    name.resize(name.size() - 5);
  }
  return name;
}

absl::StatusOr<ModelSource> ResolveModelSource(const std::string& model, ms::VerifyMode verify,
                                               const std::string& store_root,
                                               const std::string& verify_cache_path) {
  ModelSource source;
  std::error_code ec;
  if (std::filesystem::is_regular_file(model, ec)) {
    source.gguf_path = model;
    source.default_name = FileStem(model);
    return source;
  }
  // A FIFO, socket or device is refused here, by stat alone (opening a FIFO would wait for a
  // writer); a directory falls through to the store lookup.
  if (const auto st = std::filesystem::status(model, ec);
      !ec && std::filesystem::exists(st) && !std::filesystem::is_directory(st)) {
    return absl::InvalidArgumentError(absl::StrCat("model '", model, "': not a regular file"));
  }
  const ms::OllamaStore store(store_root.empty() ? ms::OllamaStore::DefaultRoot() : store_root);
  auto name = ms::ParseOllamaName(model);
  if (!name.ok() || !store.Has(model)) {
    return absl::NotFoundError(absl::StrCat(
        "model '", model, "' is neither a file nor a model in the Ollama store at ", store.root(),
        name.ok() ? absl::StrCat(" (no manifests/", name->ManifestRelativePath(), ")")
                  : absl::StrCat(" (", name.status().message(), ")"),
        "; `hearth models` lists the store"));
  }
  auto resolved = store.Resolve(model, verify, verify_cache_path);
  if (!resolved.ok()) return resolved.status();
  source.gguf_path = resolved->gguf_path;
  source.default_name = resolved->name.DisplayName();
  const double gib = resolved->gguf_size / double(1 << 30);
  if (resolved->verify.hashed) {
    source.log_lines.push_back(absl::StrFormat(
        "%s: sha256 of the %.2f GiB blob verified in %.1f s (%.2f GiB/s)%s", source.default_name,
        gib, resolved->verify.seconds, gib / std::max(resolved->verify.seconds, 1e-9),
        verify == ms::VerifyMode::kOnce ? "; cached by size and mtime for later starts" : ""));
  } else if (verify == ms::VerifyMode::kOnce) {
    source.log_lines.push_back(absl::StrCat(
        source.default_name, ": sha256 verified earlier (cache: unchanged size and mtime)"));
  } else {
    source.log_lines.push_back(
        absl::StrCat(source.default_name, ": sha256 not verified (ollama_verify: never)"));
  }
  for (const std::string& note : resolved->notes) {
    source.log_lines.push_back(absl::StrCat(source.default_name, ": ", note));
  }
  source.ollama = *std::move(resolved);
  return source;
}

ChatDefaults ChatDefaultsFor(const ModelSource& source, const std::string& bos,
                             const std::string& eos) {
  ChatDefaults d;
  if (!source.ollama) return d;
  const ms::OllamaModel& m = *source.ollama;
  if (m.template_text && !absl::StripAsciiWhitespace(*m.template_text).empty()) {
    auto chat = engine::tokenizer::ChatTemplate::Detect(*m.template_text, bos, eos);
    if (chat.ok()) {
      d.log_lines.push_back(
          absl::StrCat("chat template: the Ollama template layer (",
                       std::string(engine::tokenizer::ChatFamilyName(chat->family())), " family)"));
      d.chat_template = *std::move(chat);
    } else {
      d.log_lines.push_back(
          "chat template: the Ollama template layer is not a family Hearth renders; using "
          "the GGUF's tokenizer.chat_template");
    }
  }
  if (m.system) d.default_system = *m.system;
  if (m.params) {
    const ms::OllamaParams& p = *m.params;
    v1::SamplingParams& s = d.default_sampling;
    if (p.temperature) s.set_temperature(*p.temperature);
    if (p.top_p) s.set_top_p(*p.top_p);
    if (p.top_k) s.set_top_k(*p.top_k);
    if (p.min_p) s.set_min_p(*p.min_p);
    if (p.repeat_penalty) s.set_repetition_penalty(*p.repeat_penalty);
    if (p.presence_penalty) s.set_presence_penalty(*p.presence_penalty);
    if (p.frequency_penalty) s.set_frequency_penalty(*p.frequency_penalty);
    if (p.seed) s.set_seed(*p.seed);
    if (p.num_predict) s.set_max_tokens(*p.num_predict);
    for (const std::string& stop : p.stop) s.add_stop(stop);
    d.log_lines.push_back(
        absl::StrCat("default sampling from the Ollama params layer: ", s.ShortDebugString()));
  }
  return d;
}

}  // namespace hearth::server
