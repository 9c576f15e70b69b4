// What `hearth serve` loads for one configured model: the GGUF (file or Ollama store), its
// engine with the model's share of the settings, the tokenizer-derived request defaults (chat
// template, Ollama system / params layers, structured-output compiler). The ModelRegistry's
// loader (server/registry/model_registry.h) calls LoadServedModel on its manager thread.
//
// Thread-safety: LoadServedModel is reentrant; a ServedModelPlan is read-only once built.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "server/config/server_config.h"
#include "server/models/model_source.h"
#include "server/registry/model_registry.h"

namespace hearth::server {

// One configured model, resolved at start-up.
struct ServedModelPlan {
  ModelConfig config;  // name filled in
  ModelSource source;
  engine::EngineConfig engine_config;  // with this model's max_num_seqs and KV share
  int64_t file_bytes = 0;
};

// The engine configs of `models` (already resolved): the server's settings with each model's
// max_num_seqs, and its KV share. One model keeps the server's KV settings as they are; with
// several, the server's KV budget (kv_cache_bytes, else kv_cache_memory_fraction of the memory
// available now) is split: kv_cache bytes, else kv_cache_share of it, else an even share among
// the models that may be loaded at once (max_loaded_models).
void PlanEngineConfigs(const ServerConfig& config, std::vector<ServedModelPlan>* models);

// Loads `plan`: weights, engine (hooks from `hooks`), request defaults. `log` gets the
// start-up lines (KV plan, chat template notes). Errors: the model's or the engine's.
absl::StatusOr<std::unique_ptr<LoadedModel>> LoadServedModel(
    const ServedModelPlan& plan, const ServerConfig& config, engine::EngineHooks hooks,
    const std::function<void(const std::string&)>& log);

}  // namespace hearth::server
