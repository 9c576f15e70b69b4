#include "server/http/api_service.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "engine/tokenizer/unicode.h"
#include "server/http/deferred_reply.h"
#include "server/http/json_fields.h"
#include "server/http/ollama_api.h"
#include "server/http/openai_format.h"
#include "server/http/openai_request.h"
#include "server/request/build_request.h"
#include "server/request/output_channel.h"

namespace hearth::server::http {
namespace {

const absl::Status kShuttingDown = absl::UnavailableError("server shutting down");

bool IsOllamaPath(absl::string_view path) { return absl::StartsWith(path, "/api/"); }

HttpResponse ErrorFor(absl::string_view path, const absl::Status& status) {
  return IsOllamaPath(path) ? ollama::ErrorResponse(status) : openai::ErrorResponse(status);
}

HttpResponse JsonResponse(const Json& body) {
  HttpResponse r;
  r.body = DumpJson(body);
  return r;
}

HttpResponse TextResponse(int status, std::string text) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(text);
  return r;
}

std::string Rfc3339(int64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

// "135M", "1.2B": Ollama's parameter_size.
std::string ParameterSize(int64_t n) {
  if (n >= 1000000000) return absl::StrFormat("%.1fB", n / 1e9);
  if (n >= 1000000) return absl::StrFormat("%.0fM", n / 1e6);
  return absl::StrCat(n);
}

Json OllamaDetails(const ModelFacts& facts) {
  return {{"parent_model", ""},
          {"format", "gguf"},
          {"family", facts.architecture},
          {"families", Json::array({facts.architecture})},
          {"parameter_size", ParameterSize(facts.parameter_count)},
          {"quantization_level", facts.quant_type}};
}

// HTTP requests carry no deadline: the registry's own bound applies (max_wait).
absl::StatusOr<ModelLease> AcquireModel(const ModelResolver& models, absl::string_view name) {
  return models.Acquire(name, absl::InfiniteFuture());
}

}  // namespace

ApiService::~ApiService() {
  // Deferred replies still loading their model end once the registry stops (it fails them).
  absl::MutexLock lock(&mu_);
  auto none = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return deferred_ == 0; };
  mu_.Await(absl::Condition(&none));
}

HttpResponse ApiService::ServerError(int status, const std::string& path,
                                     const std::string& message) {
  HttpResponse r;
  r.status = status;
  if (IsOllamaPath(path)) {
    r.body = DumpJson(Json{{"error", message}});
  } else {
    const char* type = status == 503 ? "server_error" : "invalid_request_error";
    r.body = DumpJson(Json{
        {"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}});
  }
  return r;
}

Reply ApiService::Handle(HttpRequest& request) {
  const std::string& path = request.path;
  const Protocol protocol = IsOllamaPath(path) ? Protocol::kOllama : Protocol::kOpenAi;
  const bool open_route = path == "/" || (path == "/health" && !options_.protect_health);
  if (!open_route && options_.keys != nullptr) {
    if (absl::Status st = options_.keys->CheckAuthorization(request.authorization); !st.ok()) {
      if (options_.on_unauthenticated) options_.on_unauthenticated(protocol);
      return ErrorFor(path, st);
    }
  }
  return Dispatch(request, /*may_defer=*/true);
}

bool ApiService::NeedsLoad(const HttpRequest& request) const {
  auto body = ParseJsonObject(request.body);
  if (!body.ok()) return false;
  std::string name;
  for (const char* key : {"model", "name"}) {
    const Json* m = Find(*body, key);
    if (m != nullptr && m->is_string() && name.empty()) name = m->get<std::string>();
  }
  if (IsOllamaPath(request.path)) name = ollama::StripLatest(name);
  return options_.models->NeedsLoad(name);
}

Reply ApiService::Defer(HttpRequest& request) {
  {
    absl::MutexLock lock(&mu_);
    ++deferred_;
  }
  return DeferredReply::Start(
      [this, r = request]() mutable { return Dispatch(r, /*may_defer=*/false); },
      [this] {
        absl::MutexLock lock(&mu_);
        --deferred_;
      });
}

Reply ApiService::Dispatch(HttpRequest& request, bool may_defer) {
  const std::string& path = request.path;
  const bool is_get = request.method == "GET" || request.method == "HEAD";
  const bool is_post = request.method == "POST";
  // Routes that use a model: one that must load first is answered off the event loop.
  if (may_defer && is_post &&
      (path == "/v1/completions" || path == "/v1/chat/completions" || path == "/api/generate" ||
       path == "/api/chat" || path == "/tokenize" || path == "/detokenize" ||
       path == "/api/show") &&
      NeedsLoad(request)) {
    return Defer(request);
  }
  auto wrong_method = [&](const char* want) {
    HttpResponse r = ErrorFor(path, absl::InvalidArgumentError(absl::StrCat(
                                        "method ", request.method, " not allowed; use ", want)));
    r.status = 405;
    r.headers.emplace_back("Allow", want);
    return r;
  };
  if (path == "/v1/completions" || path == "/v1/chat/completions") {
    if (!is_post) return wrong_method("POST");
    return OpenAiCompletion(request, path == "/v1/chat/completions");
  }
  if (path == "/api/generate" || path == "/api/chat") {
    if (!is_post) return wrong_method("POST");
    return OllamaGenerate(request, path == "/api/chat");
  }
  if (path == "/v1/models" || absl::StartsWith(path, "/v1/models/")) {
    if (!is_get) return wrong_method("GET");
    return ListOpenAiModels(path.size() > 11 ? absl::string_view(path).substr(11) : "");
  }
  if (path == "/tokenize" || path == "/detokenize") {
    if (!is_post) return wrong_method("POST");
    return path == "/tokenize" ? Tokenize(request) : Detokenize(request);
  }
  if (path == "/api/tags" || path == "/api/ps") {
    if (!is_get) return wrong_method("GET");
    return OllamaTags(/*loaded_only=*/path == "/api/ps");
  }
  if (path == "/api/show") {
    if (!is_post) return wrong_method("POST");
    return OllamaShow(request);
  }
  if (path == "/api/version" || path == "/version") {
    if (!is_get) return wrong_method("GET");
    return JsonResponse({{"version", options_.version}});
  }
  if (path == "/health") {
    if (!is_get) return wrong_method("GET");
    return draining() ? TextResponse(503, "NOT_SERVING: draining\n") : TextResponse(200, "ok\n");
  }
  if (path == "/") {
    return TextResponse(200, "Hearth is running (OpenAI and Ollama compatible APIs)\n");
  }
  return ErrorFor(path, absl::NotFoundError(absl::StrCat("no route for ", request.method, " ",
                                                         engine::tokenizer::SanitizeUtf8(path))));
}

void ApiService::Failed(absl::StatusCode code, Protocol protocol, const std::string& model) const {
  if (options_.on_failure) options_.on_failure(code, protocol, model);
}

Reply ApiService::OpenAiCompletion(const HttpRequest& http, bool chat) {
  std::string model_name;  // the configured name once resolved
  auto fail = [&](const absl::Status& st) -> Reply {
    Failed(st.code(), Protocol::kOpenAi, model_name);
    return openai::ErrorResponse(st);
  };
  if (draining()) return fail(kShuttingDown);
  auto body = ParseJsonObject(http.body);
  if (!body.ok()) return fail(body.status());
  auto parsed =
      chat ? openai::ParseChatCompletionRequest(*body) : openai::ParseCompletionRequest(*body);
  if (!parsed.ok()) return fail(parsed.status());
  const double arrival = engine::RequestClockSeconds();
  // Blocks while a lazily loaded model loads (counted in the requests' queue time).
  model_name = parsed->model;
  auto served = AcquireModel(*options_.models, parsed->model);
  if (!served.ok()) return fail(served.status());
  model_name = (*served)->model.name;
  const FieldNames& names = chat ? openai::ChatFieldNames() : openai::CompletionFieldNames();
  std::vector<engine::Request> requests;
  openai::CompletionCall call;
  for (const GenerateSpec& spec : parsed->specs) {
    auto built = BuildEngineRequest(spec, (*served)->model, names);
    if (!built.ok()) return fail(built.status());
    call.prompt_tokens.push_back(static_cast<int32_t>(built->prompt_tokens.size()));
    built->arrival_seconds = arrival;
    requests.push_back(*std::move(built));
  }
  call.chat = chat;
  call.id = openai::NewId(chat ? "chatcmpl-" : "cmpl-");
  call.created = absl::ToUnixSeconds(absl::Now());
  call.model = (*served)->model.name;
  call.n = parsed->n;
  call.stream = parsed->stream;
  call.include_usage = parsed->include_usage;
  call.continuous_usage = parsed->continuous_usage;
  call.logprobs = parsed->logprobs;
  call.tokenizer = (*served)->model.tokenizer;

  auto stream = std::make_shared<GenerationStream>(openai::MakeCompletionFormatter(call));
  std::weak_ptr<GenerationStream> weak = stream;
  auto observer = options_.on_sample_finished;
  auto channel = OutputChannel::Create(
      [weak](bool) {
        if (auto s = weak.lock()) s->Wake();
      },
      observer
          ? OutputChannel::FinalObserver([observer, model_name](const engine::RequestOutput& out) {
              observer(out, Protocol::kOpenAi, model_name);
            })
          : nullptr,
      options_.max_stream_buffer_bytes);
  stream->Attach(channel);
  channel->Hold(*served);
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::Status st = channel->Submit(*(*served)->engine, std::move(requests[i]),
                                      static_cast<int32_t>(i) * parsed->n);
    if (!st.ok()) {
      channel->Abort();  // the prompts submitted before this one
      return fail(RenameFieldError(st, names));
    }
  }
  Track(stream, Protocol::kOpenAi, model_name);
  return stream;
}

Reply ApiService::OllamaGenerate(const HttpRequest& http, bool chat) {
  std::string model_name;  // the configured name once resolved
  auto fail = [&](const absl::Status& st) -> Reply {
    Failed(st.code(), Protocol::kOllama, model_name);
    return ollama::ErrorResponse(st);
  };
  if (draining()) return fail(kShuttingDown);
  auto body = ParseJsonObject(http.body);
  if (!body.ok()) return fail(body.status());
  auto parsed = chat ? ollama::ParseChatRequest(*body) : ollama::ParseGenerateRequest(*body);
  if (!parsed.ok()) return fail(parsed.status());
  const double arrival = engine::RequestClockSeconds();
  model_name = parsed->model;
  auto served = AcquireModel(*options_.models, parsed->model);
  if (!served.ok()) return fail(served.status());
  model_name = (*served)->model.name;
  if (parsed->unload_after) options_.models->UnloadWhenIdle(parsed->model);
  if (parsed->load_only) return ollama::LoadResponse(*parsed, (*served)->model.name);
  const FieldNames& names = ollama::OllamaFieldNames();
  auto built = BuildEngineRequest(parsed->spec, (*served)->model, names);
  if (!built.ok()) return fail(built.status());
  built->arrival_seconds = arrival;

  auto stream = std::make_shared<GenerationStream>(ollama::MakeOllamaFormatter(
      {chat, parsed->stream, parsed->model.empty() ? (*served)->model.name : parsed->model}));
  std::weak_ptr<GenerationStream> weak = stream;
  auto observer = options_.on_sample_finished;
  auto channel = OutputChannel::Create(
      [weak](bool) {
        if (auto s = weak.lock()) s->Wake();
      },
      observer
          ? OutputChannel::FinalObserver([observer, model_name](const engine::RequestOutput& out) {
              observer(out, Protocol::kOllama, model_name);
            })
          : nullptr,
      options_.max_stream_buffer_bytes);
  stream->Attach(channel);
  channel->Hold(*served);
  if (absl::Status st = channel->Submit(*(*served)->engine, *std::move(built), 0); !st.ok()) {
    return fail(RenameFieldError(st, names));
  }
  Track(stream, Protocol::kOllama, model_name);
  return stream;
}

void ApiService::Track(const std::shared_ptr<GenerationStream>& stream, Protocol protocol,
                       const std::string& model) {
  GenerationStream* key = stream.get();
  {
    absl::MutexLock lock(&mu_);
    active_[key] = stream;
  }
  stream->SetOnFinished([this, key, protocol, model](const absl::Status& status) {
    if (!status.ok()) Failed(status.code(), protocol, model);
    absl::MutexLock lock(&mu_);
    active_.erase(key);
  });
}

HttpResponse ApiService::Tokenize(const HttpRequest& http) {
  if (draining()) return openai::ErrorResponse(kShuttingDown);
  auto body = ParseJsonObject(http.body);
  if (!body.ok()) return openai::ErrorResponse(body.status());
  auto model = GetString(*body, "model", "model");
  if (!model.ok()) return openai::ErrorResponse(model.status());
  auto served = AcquireModel(*options_.models, model->value_or(""));
  if (!served.ok()) return openai::ErrorResponse(served.status());
  const ServedModel& m = (*served)->model;
  PromptSpec prompt;
  std::vector<int32_t> tokens;
  if (Find(*body, "messages") != nullptr) {
    auto parsed = openai::ParseChatCompletionRequest(*body);
    if (!parsed.ok()) return openai::ErrorResponse(parsed.status());
    auto built = BuildPrompt(parsed->specs[0].prompt, m, openai::ChatFieldNames());
    if (!built.ok()) return openai::ErrorResponse(built.status());
    tokens = *std::move(built);
  } else {
    auto text = GetString(*body, "prompt", "prompt");
    if (!text.ok()) return openai::ErrorResponse(text.status());
    if (!text->has_value()) {
      return openai::ErrorResponse(absl::InvalidArgumentError("prompt: is required"));
    }
    auto add_special = GetBool(*body, "add_special_tokens", "add_special_tokens");
    if (!add_special.ok()) return openai::ErrorResponse(add_special.status());
    tokens = m.tokenizer->Encode(
        **text, {.add_special = add_special->value_or(true), .parse_special = true});
  }
  return JsonResponse({{"count", tokens.size()},
                       {"max_model_len", m.max_model_len},
                       {"tokens", tokens},
                       {"token_strs", nullptr}});
}

HttpResponse ApiService::Detokenize(const HttpRequest& http) {
  if (draining()) return openai::ErrorResponse(kShuttingDown);
  auto body = ParseJsonObject(http.body);
  if (!body.ok()) return openai::ErrorResponse(body.status());
  auto model = GetString(*body, "model", "model");
  if (!model.ok()) return openai::ErrorResponse(model.status());
  auto served = AcquireModel(*options_.models, model->value_or(""));
  if (!served.ok()) return openai::ErrorResponse(served.status());
  auto ids = GetIntList(*body, "tokens", "tokens");
  if (!ids.ok()) return openai::ErrorResponse(ids.status());
  if (!ids->has_value()) {
    return openai::ErrorResponse(absl::InvalidArgumentError("tokens: is required"));
  }
  const engine::tokenizer::Tokenizer& tok = *(*served)->model.tokenizer;
  std::vector<int32_t> tokens;
  for (size_t i = 0; i < (*ids)->size(); ++i) {
    const int64_t id = (**ids)[i];
    if (id < 0 || id >= tok.vocab_size()) {
      return openai::ErrorResponse(absl::InvalidArgumentError(
          absl::StrCat("tokens[", i, "]: token id ", id, " is outside the vocabulary [0, ",
                       tok.vocab_size(), ")")));
    }
    tokens.push_back(static_cast<int32_t>(id));
  }
  return JsonResponse({{"prompt", tok.Decode(tokens, {.skip_special = false})}});
}

HttpResponse ApiService::ListOpenAiModels(absl::string_view id) const {
  auto card = [](const ModelStatus& m, const std::string& name) {
    return Json{{"id", name},
                {"object", "model"},
                {"created", m.facts.created_unix},
                {"owned_by", "hearth"},
                {"root", m.name},
                {"parent", nullptr},
                {"max_model_len", m.max_model_len},
                {"loaded", m.loaded}};
  };
  const std::vector<ModelStatus> models = options_.models->List();
  if (!id.empty()) {
    auto name = options_.models->CanonicalName(id);
    if (!name.ok()) return openai::ErrorResponse(name.status());
    for (const ModelStatus& m : models) {
      if (m.name == *name) return JsonResponse(card(m, std::string(id)));
    }
  }
  Json data = Json::array();
  for (const ModelStatus& m : models) data.push_back(card(m, m.name));
  return JsonResponse({{"object", "list"}, {"data", std::move(data)}});
}

HttpResponse ApiService::OllamaTags(bool loaded_only) const {
  Json models = Json::array();
  for (const ModelStatus& m : options_.models->List()) {
    if (loaded_only && !m.loaded) continue;
    // Ollama shows a tagless name with ":latest"; "smollm2:135m" stays as it is.
    const std::string name = m.name.find(':') == std::string::npos ? m.name + ":latest" : m.name;
    Json entry = {{"name", name},
                  {"model", name},
                  {"modified_at", Rfc3339(m.facts.created_unix)},
                  {"size", m.facts.file_bytes},
                  {"digest", ""},
                  {"details", OllamaDetails(m.facts)}};
    if (loaded_only) {
      entry["size_vram"] = 0;
      entry["context_length"] = m.max_model_len;
    } else {
      entry["loaded"] = m.loaded;
    }
    models.push_back(std::move(entry));
  }
  return JsonResponse({{"models", std::move(models)}});
}

HttpResponse ApiService::OllamaShow(const HttpRequest& http) const {
  auto body = ParseJsonObject(http.body);
  if (!body.ok()) return ollama::ErrorResponse(body.status());
  auto model = GetString(*body, "model", "model");
  if (!model.ok()) return ollama::ErrorResponse(model.status());
  std::string name = model->value_or("");
  if (name.empty()) {
    auto legacy = GetString(*body, "name", "name");
    if (!legacy.ok()) return ollama::ErrorResponse(legacy.status());
    name = legacy->value_or("");
  }
  if (name.empty()) return ollama::ErrorResponse(absl::InvalidArgumentError("model: is required"));
  // Loads a lazy model (the template is its tokenizer's).
  auto served = AcquireModel(*options_.models, ollama::StripLatest(name));
  if (!served.ok()) return ollama::ErrorResponse(served.status());
  const ServedEngine& e = **served;
  const std::string& arch = e.facts.architecture;
  return JsonResponse({{"modelfile", ""},
                       {"parameters", ""},
                       {"template", e.model.tokenizer->chat_template()},
                       {"details", OllamaDetails(e.facts)},
                       {"model_info",
                        {{"general.architecture", arch},
                         {"general.parameter_count", e.facts.parameter_count},
                         {arch + ".context_length", e.model.max_model_len}}},
                       {"capabilities", Json::array({"completion"})},
                       {"modified_at", Rfc3339(e.facts.created_unix)}});
}

void ApiService::StartDraining() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
}

bool ApiService::draining() const {
  absl::MutexLock lock(&mu_);
  return draining_;
}

int ApiService::active_streams() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(active_.size());
}

bool ApiService::WaitIdle(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return active_.empty() && deferred_ == 0; };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

void ApiService::AbortAll() {
  std::vector<std::shared_ptr<GenerationStream>> streams;
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    for (auto& [key, weak] : active_) {
      if (auto s = weak.lock()) streams.push_back(std::move(s));
    }
  }
  // Outside mu_: a stream that finishes calls back into this service.
  for (auto& s : streams) s->AbortForShutdown();
}

}  // namespace hearth::server::http
