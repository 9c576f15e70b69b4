// What the front ends (gRPC, OpenAI, Ollama) know about a served model, and the one place that
// resolves a request's `model` name to the engine serving it (ModelResolver).
//
// The resolver is server/registry/model_registry.h (several models, loaded on demand).
//
// Thread-safety: ServedModel, ModelFacts and ServedEngine are read-only once built; resolvers
// are thread-safe. Ownership: borrowed pointers (tokenizer, engine) must outlive them.
#pragma once

#include <climits>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
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

// Pins a loaded model: while any copy lives, the model is not unloaded (see
// server/registry/model_registry.h). Never null when handed out.
using ModelLease = std::shared_ptr<const ServedEngine>;

// A configured model in a listing (loaded or not).
struct ModelStatus {
  std::string name;
  std::vector<std::string> aliases;
  bool lazy = false;
  bool loaded = false;
  int32_t leases = 0;
  ModelFacts facts;           // of the last load (before it: file size and time only)
  int32_t max_model_len = 0;  // 0 until first loaded
};

// Resolves a request's `model` to a loaded engine (the registry; tests may fake it).
class ModelResolver {
 public:
  virtual ~ModelResolver() = default;
  // The loaded model `name` ("" = the default model), loading it first when needed (blocks
  // until then, at most until `deadline`). NotFound naming `name` and listing the served names;
  // Unavailable when the load failed (the next call retries); ResourceExhausted when no room could
  // be made in time; DeadlineExceeded when the deadline passed during the load.
  virtual absl::StatusOr<ModelLease> Acquire(absl::string_view name, absl::Time deadline) const = 0;
  // True when `name` resolves to a model that is not loaded now: Acquire would block (front
  // ends then call it off their event-loop threads).
  virtual bool NeedsLoad(absl::string_view name) const = 0;
  // Every configured model, the default first.
  virtual std::vector<ModelStatus> List() const = 0;
  // The configured name `name` resolves to ("" and aliases resolved); NotFound as Acquire.
  virtual absl::StatusOr<std::string> CanonicalName(absl::string_view name) const = 0;
  // Unload `name` as soon as no request uses it (Ollama's keep_alive 0; eager models stay).
  virtual void UnloadWhenIdle(absl::string_view name) const = 0;
};

}  // namespace hearth::server
