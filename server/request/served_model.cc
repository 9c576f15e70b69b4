#include "server/request/served_model.h"

#include <sys/stat.h>

#include <map>

namespace hearth::server {

ModelFacts DescribeModel(const engine::LoadedModel& model) {
  ModelFacts facts;
  facts.architecture = model.config().arch_name;
  std::map<std::string, int64_t> elements_by_type;
  for (const engine::GgufTensor& t : model.file().tensors()) {
    facts.parameter_count += t.num_elements;
    if (t.shape.size() >= 2) elements_by_type[std::string(t.traits->name)] += t.num_elements;
  }
  // The experts a token is not routed to are the difference.
  const engine::ParameterCounts bound = model.weights().CountParameters();
  facts.active_parameter_count = facts.parameter_count - (bound.total - bound.active);
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

}  // namespace hearth::server
