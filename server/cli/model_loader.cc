#include "server/cli/model_loader.h"

#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/host_resources.h"
#include "engine/constraint/constraint_compiler.h"
#include "engine/constraint/tokenizer_vocabulary.h"
#include "engine/tokenizer/chat_template.h"
#include "server/grpc/request_builder.h"

namespace hearth::server {
namespace {

// Owns everything a ServedEngine points at. Destruction order (members, bottom up): the
// engine first (its thread joins, its last outputs are delivered), then the compiler, then the
// weights it computed with.
class EngineModel final : public LoadedModel {
 public:
  const ServedEngine& served() const override { return served_; }
  int64_t resident_bytes() const override { return resident_bytes_; }

  std::unique_ptr<engine::LoadedModel> weights;
  std::optional<constraint::ConstraintCompiler> compiler;
  std::unique_ptr<engine::Engine> engine;
  ServedEngine served_;
  int64_t resident_bytes_ = 0;
};

void LogKvPlan(const engine::Engine& engine, const std::string& name,
               const engine::EngineConfig& engine_config,
               const std::function<void(const std::string&)>& log) {
  const engine::KvCachePlan& plan = engine.kv_plan();
  const engine::EngineStats stats = engine.Stats();
  log(absl::StrCat("model ", name, " on ", engine.backend_description()));
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    const engine::StageKvPlan& s = plan.stages[i];
    log(absl::StrCat("stage ", i, ": ", s.device, " layers ", s.first_layer, "-", s.end_layer - 1,
                     ", K/V ", engine::HumanBytes(s.kv_bytes), " of ",
                     engine::HumanBytes(s.room_bytes), " available",
                     plan.stages.size() > 1 && static_cast<int>(i) == plan.limiting_stage
                         ? " (the smallest: it sets the capacity)"
                         : ""));
  }
  for (const std::string& note : plan.notes) log(note);
  log(absl::StrCat(
      "context ", engine.max_model_len(), " tokens, KV cache ", stats.num_device_blocks,
      " blocks x ", stats.block_size, " = ", stats.kv_capacity_tokens(), " tokens (",
      engine::KvDtypeName(engine_config.kv_cache.ResolvedDtype(engine_config.device.cpu_precision)),
      "), ", stats.num_host_blocks, " swap blocks"));
}

// A bound on the buffers one engine step allocates on top of weights and K/V: the activations of
// max_num_batched_tokens rows (residual, norms, Q/K/V, attention output, the FFN's gate / up /
// product, doubled for the quantized copies and per-thread partials) and the logits and
// sampling probabilities of max_num_seqs rows.
int64_t WorkingBufferBytes(const engine::ModelConfig& m, const engine::EngineConfig& e) {
  const int64_t kv_dim = int64_t{m.num_kv_heads} * m.head_dim;
  const int64_t q_dim = int64_t{m.num_heads} * m.head_dim;
  const int64_t ffn =
      m.is_moe() ? int64_t{m.expert_ffn_dim} * m.expert_used_count + m.shared_expert_ffn_dim
                 : m.ffn_dim;
  const int64_t per_row = 6 * int64_t{m.dim} + q_dim + 2 * kv_dim + 3 * ffn;
  const int64_t rows = std::max(e.scheduler.max_num_batched_tokens, e.scheduler.max_num_seqs);
  return 2 * rows * per_row * int64_t{sizeof(float)} +
         2 * int64_t{e.scheduler.max_num_seqs} * m.vocab_size * int64_t{sizeof(float)};
}

}  // namespace

void PlanEngineConfigs(const ServerConfig& config, std::vector<ServedModelPlan>* models) {
  const int n = static_cast<int>(models->size());
  const int at_once = config.max_loaded_models > 0 ? std::min(n, config.max_loaded_models) : n;
  const int64_t budget =
      config.kv_cache_bytes > 0
          ? config.kv_cache_bytes
          : static_cast<int64_t>(config.kv_cache_memory_fraction *
                                 static_cast<double>(common::InspectMemory().available));
  for (ServedModelPlan& plan : *models) {
    engine::EngineConfig e = config.ToEngineConfig();
    if (plan.config.max_num_seqs > 0) e.scheduler.max_num_seqs = plan.config.max_num_seqs;
    if (plan.config.kv_cache_bytes > 0) {
      e.kv_cache.bytes = plan.config.kv_cache_bytes;
    } else if (plan.config.kv_cache_share > 0) {
      e.kv_cache.bytes = std::max<int64_t>(
          1, static_cast<int64_t>(static_cast<double>(budget) * plan.config.kv_cache_share));
    } else if (n > 1) {
      e.kv_cache.bytes = std::max<int64_t>(1, budget / std::max(1, at_once));
    }
    plan.engine_config = e;
    struct stat st;
    plan.file_bytes = ::stat(plan.source.gguf_path.c_str(), &st) == 0 ? st.st_size : 0;
  }
}

absl::StatusOr<std::unique_ptr<LoadedModel>> LoadServedModel(
    const ServedModelPlan& plan, const ServerConfig& config, engine::EngineHooks hooks,
    const std::function<void(const std::string&)>& log) {
  // What the load itself makes resident (weights, repacked copies, tokenizer, compiler) is
  // measured, not modelled: the process's resident set before and after.
  const int64_t resident_before = common::ResidentBytes();
  auto model = std::make_unique<EngineModel>();
  auto weights = engine::LoadedModel::Open(plan.source.gguf_path, config.model_load == "mmap"
                                                                      ? engine::GgufLoad::kMmap
                                                                      : engine::GgufLoad::kCopy);
  if (!weights.ok()) return weights.status();
  model->weights = *std::move(weights);
  if (absl::Status st = plan.engine_config.Validate(); !st.ok()) return st;
  auto engine = engine::Engine::Create(*model->weights, plan.engine_config, std::move(hooks));
  if (!engine.ok()) return engine.status();
  model->engine = *std::move(engine);
  const engine::tokenizer::Tokenizer& tok = model->engine->tokenizer();
  const std::string& name = plan.config.name;

  ServedModel& served = model->served_.model;
  served.name = name;
  served.tokenizer = &tok;
  served.max_model_len = model->engine->max_model_len();
  served.min_priority = config.min_client_priority;
  served.chat_parse_special = config.parse_special_in_chat;
  // Structured output: one compiler (and compile cache) per model vocabulary.
  model->compiler.emplace(constraint::VocabularyFromTokenizer(tok));
  served.constraint_compiler = &*model->compiler;
  const std::string bos = tok.bos_id() >= 0 ? tok.IdToPiece(tok.bos_id()) : "";
  const std::string eos = tok.eos_id() >= 0 ? tok.IdToPiece(tok.eos_id()) : "";
  ChatDefaults defaults = ChatDefaultsFor(plan.source, bos, eos);
  for (const std::string& line : defaults.log_lines) log(line);
  served.default_system = std::move(defaults.default_system);
  served.default_sampling = ToSamplingSpec(defaults.default_sampling);
  auto chat = defaults.chat_template
                  ? absl::StatusOr<engine::tokenizer::ChatTemplate>(*defaults.chat_template)
                  : engine::tokenizer::ChatTemplate::Detect(tok.chat_template(), bos, eos);
  if (chat.ok()) {
    served.chat_template = *std::move(chat);
  } else {
    served.chat_template_error = std::string(chat.status().message());
    log(absl::StrCat("model ", name, ": chat requests disabled: ", served.chat_template_error));
  }
  model->served_.facts = DescribeModel(*model->weights);
  model->served_.engine = model->engine.get();
  // Up to: what the load made resident, plus the host K/V and swap pages (untouched until
  // used), plus the working buffers of a full step. The registry's byte budget uses it too.
  const engine::KvCachePlan& kv = model->engine->kv_plan();
  const int64_t loaded = std::max<int64_t>(0, common::ResidentBytes() - resident_before);
  const int64_t to_fill = kv.host_kv_bytes + kv.swap_bytes;
  const int64_t working = WorkingBufferBytes(model->weights->config(), plan.engine_config);
  model->resident_bytes_ = loaded + to_fill + working;
  LogKvPlan(*model->engine, name, plan.engine_config, log);
  log(absl::StrCat("model ", name, ": host memory up to ",
                   engine::HumanBytes(model->resident_bytes_), " (", engine::HumanBytes(loaded),
                   " resident after load, ", engine::HumanBytes(to_fill),
                   " as the KV cache and swap fill, ", engine::HumanBytes(working),
                   " step buffers)", config.model_load == "mmap" ? ", file mapped" : ""));
  return std::unique_ptr<LoadedModel>(std::move(model));
}

}  // namespace hearth::server
