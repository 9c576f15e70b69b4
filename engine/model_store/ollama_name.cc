#include "engine/model_store/ollama_name.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace hearth::engine::model_store {
namespace {

absl::Status Bad(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("invalid Ollama model name '",
                                                 absl::string_view(text.data(), text.size()),
                                                 "': ", absl::string_view(why.data(), why.size())));
}

// Letters, digits, '_', '-', '.' (and ':' for a host's port); not starting with '.' or '-'.
bool ValidPart(std::string_view part, bool host) {
  if (part.empty() || part.size() > 350 || part[0] == '.' || part[0] == '-') return false;
  for (char c : part) {
    const bool ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
                    c == '.' || (host && c == ':');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string OllamaName::DisplayName() const {
  std::string out;
  if (host != kDefaultHost) {
    out = absl::StrCat(host, "/", name_space, "/");
  } else if (name_space != kDefaultNamespace) {
    out = absl::StrCat(name_space, "/");
  }
  return absl::StrCat(out, model, ":", tag);
}

std::string OllamaName::ManifestRelativePath() const {
  return absl::StrCat(host, "/", name_space, "/", model, "/", tag);
}

absl::StatusOr<OllamaName> ParseOllamaName(std::string_view text) {
  std::string_view rest = text;
  for (std::string_view scheme : {"https://", "http://"}) {
    if (rest.substr(0, scheme.size()) == scheme) rest.remove_prefix(scheme.size());
  }
  if (const size_t at = rest.find('@'); at != std::string_view::npos) rest = rest.substr(0, at);
  if (rest.empty()) return Bad(text, "empty");
  OllamaName name;
  // A ':' after the last '/' starts the tag; one before it is a host's port.
  const size_t slash = rest.rfind('/');
  const size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    name.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (name.tag.empty()) return Bad(text, "empty tag after ':'");
  }
  std::vector<std::string_view> parts;
  for (absl::string_view p : absl::StrSplit(absl::string_view(rest.data(), rest.size()), '/')) {
    parts.emplace_back(p.data(), p.size());
  }
  if (parts.size() > 3) return Bad(text, "more than host/namespace/model");
  name.model = std::string(parts.back());
  if (parts.size() >= 2) name.name_space = std::string(parts[parts.size() - 2]);
  if (parts.size() == 3) name.host = std::string(parts[0]);
  if (!ValidPart(name.host, /*host=*/true)) return Bad(text, "bad host");
  if (!ValidPart(name.name_space, false)) return Bad(text, "bad namespace");
  if (!ValidPart(name.model, false)) return Bad(text, "bad model name");
  if (!ValidPart(name.tag, false)) return Bad(text, "bad tag");
  return name;
}

}  // namespace hearth::engine::model_store
