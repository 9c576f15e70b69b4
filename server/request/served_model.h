// What the front ends (gRPC, OpenAI, Ollama) know about a served model, and the one place that
// resolves a request's `model` name to the engine serving it (ModelResolver).
//
// Today one engine serves one model (SingleModelResolver); multi-model serving replaces the
// resolver with a registry without touching the front ends.
//
// Thread-safety: ServedModel, ModelFacts and ServedEngine are read-only once built; resolvers
// are thread-safe. Ownership: borrowed pointers (tokenizer, engine) must outlive them.
#pragma once

#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/constraint/constraint_compiler.h"
#include "engine/engine.h"
#include "engine/model/model.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/request/generate_spec.h"

namespace hearth::server {

// What request validation needs to know about the one served model.
struct ServedModel {
  std::string name;
  const engine::tokenizer::Tokenizer* tokenizer = nullptr;
  // Empty when the model's template is not recognised (chat requests then fail).
  std::optional<engine::tokenizer::ChatTemplate> chat_template;
  std::string chat_template_error;
  int32_t max_model_len = 0;
  // Model defaults (an Ollama model's system and params layers, server/models/model_source.h):
  // the system message of chats that have none, and sampling fields a request leaves unset
  // (a request's own stop list replaces the default one). Every protocol applies them.
  std::string default_system;
  SamplingSpec default_sampling;
  // Compiles (and caches) structured-output constraints; null: constraints are rejected.
  constraint::ConstraintCompiler* constraint_compiler = nullptr;
  // Client priorities below this (more urgent) are raised to it (config min_client_priority),
  // whatever the protocol.
  int32_t min_priority = INT32_MIN;
  // Parse special-token text inside chat message content as control tokens (config
  // parse_special_in_chat). Off: content is text; only the template's own markers are tokens,
  // so a client cannot forge a turn.
  bool chat_parse_special = false;
};

// Static facts about a served model for model listings (ListModels, /v1/models, /api/tags).
struct ModelFacts {
  std::string architecture;  // "llama"
  std::string quant_type;    // dominant weight type, "Q4_1"
  int64_t parameter_count = 0;
  int64_t active_parameter_count = 0;  // per token; < parameter_count for a mixture of experts
  int64_t file_bytes = 0;
  std::string backend = "cpu";
  int64_t created_unix = 0;  // the model file's modification time
};

// Facts computed from a loaded model (dominant type by weight elements of matrices).
ModelFacts DescribeModel(const engine::LoadedModel& model);

// One model and the engine serving it.
struct ServedEngine {
  ServedModel model;
  ModelFacts facts;
  engine::Engine* engine = nullptr;
};

class ModelResolver {
 public:
  virtual ~ModelResolver() = default;
  // The engine serving `name` ("" = the default model). NotFound naming `name` and listing the
  // served names otherwise.
  virtual absl::StatusOr<const ServedEngine*> Resolve(absl::string_view name) const = 0;
  // Every served model, the default first.
  virtual std::vector<const ServedEngine*> List() const = 0;
};

// One engine, one name.
class SingleModelResolver final : public ModelResolver {
 public:
  explicit SingleModelResolver(ServedEngine served) : served_(std::move(served)) {}
  absl::StatusOr<const ServedEngine*> Resolve(absl::string_view name) const override;
  std::vector<const ServedEngine*> List() const override { return {&served_}; }

 private:
  const ServedEngine served_;
};

}  // namespace hearth::server
