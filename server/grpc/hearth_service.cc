#include "server/grpc/hearth_service.h"

#include <chrono>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/unicode.h"
#include "server/grpc/generate_reactor.h"
#include "server/grpc/status_mapping.h"
#include "server/grpc/wire.h"

namespace hearth::server {
namespace {

const grpc::Status kShuttingDown(grpc::StatusCode::UNAVAILABLE, "server shutting down");

// Checks the caller's key, parses the request, runs `handler` and serializes its response: one
// raw unary call.
template <typename Request, typename Response, typename Handler>
grpc::ServerUnaryReactor* Unary(const HearthService& service, grpc::CallbackServerContext* context,
                                const grpc::ByteBuffer* raw_request, grpc::ByteBuffer* raw_response,
                                Handler handler) {
  Request request;
  Response response;
  grpc::Status status = ToGrpcStatus(service.CheckAuth(context));
  if (status.ok()) status = ToGrpcStatus(ParseRequest(*raw_request, &request));
  if (status.ok()) status = handler(request, &response);
  if (status.ok()) status = ToGrpcStatus(SerializeResponse(response, raw_response));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

}  // namespace

absl::Status HearthService::CheckAuth(const grpc::CallbackServerContext* context) const {
  if (keys_ == nullptr || !keys_->required()) return absl::OkStatus();
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  const absl::string_view header = it == metadata.end()
                                       ? absl::string_view()
                                       : absl::string_view(it->second.data(), it->second.size());
  absl::Status st = keys_->CheckAuthorization(header);
  if (!st.ok() && on_auth_refused_) on_auth_refused_();
  return st;
}

HearthService::HearthService(const ModelResolver* models) : models_(models) {}

absl::StatusOr<ModelLease> HearthService::Acquire(
    const std::string& name, const grpc::CallbackServerContext* context) const {
  const auto deadline = context->deadline();
  const absl::Time until = deadline == std::chrono::system_clock::time_point::max()
                               ? absl::InfiniteFuture()
                               : absl::FromChrono(deadline);
  return models_->Acquire(name, until);
}

HearthService::~HearthService() {
  absl::MutexLock lock(&mu_);
  auto none = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return detached_ == 0; };
  mu_.Await(absl::Condition(&none));
}

void HearthService::RunDetached(std::function<void()> fn) {
  {
    absl::MutexLock lock(&mu_);
    ++detached_;
  }
  std::thread([this, fn = std::move(fn)] {
    fn();
    absl::MutexLock lock(&mu_);
    --detached_;
  }).detach();
}

void HearthService::StartDraining() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
}

bool HearthService::draining() const {
  absl::MutexLock lock(&mu_);
  return draining_;
}

int HearthService::active_streams() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(active_.size());
}

bool HearthService::WaitIdle(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return active_.empty(); };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

void HearthService::AbortAll() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  // Reactors unregister (under mu_) before deleting themselves, so each pointer is alive here.
  for (GenerateReactor* reactor : active_) reactor->AbortForShutdown();
}

bool HearthService::Register(GenerateReactor* reactor) {
  absl::MutexLock lock(&mu_);
  if (draining_) return false;
  active_.insert(reactor);
  return true;
}

void HearthService::Unregister(GenerateReactor* reactor) {
  absl::MutexLock lock(&mu_);
  active_.erase(reactor);
}

namespace {

void FillCard(const ModelStatus& status, v1::ModelCard* card) {
  card->set_name(status.name);
  card->set_architecture(status.facts.architecture);
  card->set_quant_type(status.facts.quant_type);
  card->set_context_length(status.max_model_len);
  card->set_loaded(status.loaded);
  for (const std::string& alias : status.aliases) card->add_aliases(alias);
}

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* HearthService::Generate(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  return new GenerateReactor(this, context, request);
}

grpc::ServerUnaryReactor* HearthService::Tokenize(grpc::CallbackServerContext* context,
                                                  const grpc::ByteBuffer* request,
                                                  grpc::ByteBuffer* response) {
  return Unary<v1::TokenizeRequest, v1::TokenizeResponse>(
      *this, context, request, response,
      [this, context](const auto& req, auto* resp) { return DoTokenize(context, req, resp); });
}

grpc::ServerUnaryReactor* HearthService::Detokenize(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return Unary<v1::DetokenizeRequest, v1::DetokenizeResponse>(
      *this, context, request, response,
      [this, context](const auto& req, auto* resp) { return DoDetokenize(context, req, resp); });
}

grpc::ServerUnaryReactor* HearthService::ListModels(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return Unary<v1::ListModelsRequest, v1::ListModelsResponse>(
      *this, context, request, response,
      [this](const auto& req, auto* resp) { return DoListModels(req, resp); });
}

grpc::ServerUnaryReactor* HearthService::ModelInfo(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* response) {
  return Unary<v1::ModelInfoRequest, v1::ModelInfoResponse>(
      *this, context, request, response,
      [this, context](const auto& req, auto* resp) { return DoModelInfo(context, req, resp); });
}

grpc::Status HearthService::DoTokenize(const grpc::CallbackServerContext* context,
                                       const v1::TokenizeRequest& request,
                                       v1::TokenizeResponse* response) {
  if (draining()) return kShuttingDown;
  auto lease = Acquire(request.model(), context);
  if (!lease.ok()) return ToGrpcStatus(lease.status());
  const std::vector<int32_t> ids = (*lease)->model.tokenizer->Encode(
      request.text(), {.add_special = request.add_special_tokens(),
                       .parse_special = request.parse_special_tokens()});
  response->mutable_token_ids()->Add(ids.begin(), ids.end());
  return grpc::Status::OK;
}

grpc::Status HearthService::DoDetokenize(const grpc::CallbackServerContext* context,
                                         const v1::DetokenizeRequest& request,
                                         v1::DetokenizeResponse* response) {
  if (draining()) return kShuttingDown;
  auto lease = Acquire(request.model(), context);
  if (!lease.ok()) return ToGrpcStatus(lease.status());
  const engine::tokenizer::Tokenizer& tokenizer = *(*lease)->model.tokenizer;
  const int32_t vocab = tokenizer.vocab_size();
  for (int i = 0; i < request.token_ids_size(); ++i) {
    const int32_t id = request.token_ids(i);
    if (id < 0 || id >= vocab) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "token_ids[", i, "]: token id ", id, " is outside the vocabulary [0, ", vocab, ")")));
    }
  }
  std::vector<int32_t> ids(request.token_ids().begin(), request.token_ids().end());
  response->set_text(tokenizer.Decode(ids, {.skip_special = request.skip_special_tokens()}));
  return grpc::Status::OK;
}

grpc::Status HearthService::DoListModels(const v1::ListModelsRequest& /*request*/,
                                         v1::ListModelsResponse* response) {
  for (const ModelStatus& status : models_->List()) FillCard(status, response->add_models());
  return grpc::Status::OK;
}

grpc::Status HearthService::DoModelInfo(const grpc::CallbackServerContext* context,
                                        const v1::ModelInfoRequest& request,
                                        v1::ModelInfoResponse* response) {
  // Loads a lazy model: the figures below are those of its engine.
  auto lease = Acquire(request.model(), context);
  if (!lease.ok()) return ToGrpcStatus(lease.status());
  const ServedEngine& served = **lease;
  const engine::Engine& engine = *served.engine;
  const engine::EngineStats stats = engine.Stats();
  const scheduler::SchedulerStats& s = stats.scheduler;
  for (const ModelStatus& status : models_->List()) {
    if (status.name == served.model.name) FillCard(status, response->mutable_model());
  }
  response->mutable_model()->set_context_length(engine.max_model_len());
  response->mutable_model()->set_loaded(true);
  response->set_vocab_size(served.model.tokenizer->vocab_size());
  response->set_parameter_count(served.facts.parameter_count);
  response->set_active_parameter_count(served.facts.active_parameter_count);
  response->set_backend(served.facts.backend);
  response->set_kv_cache_capacity_tokens(stats.kv_capacity_tokens());
  response->set_kv_block_size(stats.block_size);
  response->set_kv_cache_free_blocks(s.num_free_device_blocks);
  response->set_kv_cache_total_blocks(stats.num_device_blocks);
  response->set_kv_cache_usage(s.kv_usage);
  response->set_num_requests_running(s.num_running);
  response->set_num_requests_waiting(s.num_waiting);
  response->set_num_requests_swapped(s.num_swapped);
  response->set_num_preemptions(s.num_preemptions_recompute + s.num_preemptions_swap);
  response->set_prefix_cache_hit_tokens(s.prefix_cache_hit_tokens);
  response->set_prefix_cache_query_tokens(s.prefix_cache_query_tokens);
  const engine::KvCachePlan& plan = engine.kv_plan();
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    const engine::StageKvPlan& stage = plan.stages[i];
    v1::StageInfo* info = response->add_stages();
    info->set_device(stage.device);
    info->set_first_layer(stage.first_layer);
    info->set_last_layer(stage.end_layer - 1);
    info->set_kv_cache_bytes(stage.kv_bytes);
    info->set_kv_available_bytes(stage.room_bytes);
    info->set_limits_capacity(static_cast<int>(i) == plan.limiting_stage);
  }
  return grpc::Status::OK;
}

}  // namespace hearth::server
