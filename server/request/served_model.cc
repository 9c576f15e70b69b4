#include "server/request/served_model.h"

#include <sys/stat.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/unicode.h"

namespace hearth::server {

ModelFacts DescribeModel(const engine::LoadedModel& model) {
  ModelFacts facts;
  facts.architecture = model.config().arch_name;
  std::map<std::string, int64_t> elements_by_type;
  for (const engine::GgufTensor& t : model.file().tensors()) {
    facts.parameter_count += t.num_elements;
    if (t.shape.size() >= 2) elements_by_type[std::string(t.traits->name)] += t.num_elements;
  }
  int64_t best = -1;
  for (const auto& [name, n] : elements_by_type) {
    if (n > best) {
      best = n;
      facts.quant_type = name;
    }
  }
  struct stat st;
  if (::stat(model.file().path().c_str(), &st) == 0) {
    facts.file_bytes = st.st_size;
    facts.created_unix = st.st_mtime;
  }
  return facts;
}

absl::StatusOr<const ServedEngine*> SingleModelResolver::Resolve(absl::string_view name) const {
  if (name.empty() || name == served_.model.name) return &served_;
  return absl::NotFoundError(
      absl::StrCat("model '", engine::tokenizer::SanitizeUtf8(std::string(name)),
                   "' is not served here (served: '", served_.model.name, "')"));
}

}  // namespace hearth::server
