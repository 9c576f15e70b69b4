// Fuzz target: the HTTP API request path (server/http/) without an engine. An input is
//
//   <flags><METHOD> <target>\n<Authorization header>\n<body>
//
// flags (the low 3 bits of the first byte): 1 = API keys required (the key is "sk-fuzz"),
// 2 = the service is draining, 4 = the model parses special tokens in chat content. Boost.Beast
// does the HTTP/1.1 framing (request line, headers, Content-Length / chunked bodies) and is not
// fuzzed here; our code starts at the target split (SetTarget, as http_server.cc does) and the
// Authorization check, then ApiService's routing and the handlers' JSON parsing.
//
// Generation routes (POST /v1/completions, /v1/chat/completions, /api/generate, /api/chat on a
// service that is not draining) would submit to an engine, so the target runs the handler's own
// steps instead (ParseJsonObject -> the protocol's Parse*Request -> ModelResolver ->
// BuildEngineRequest per prompt) and then renders a made-up generation through the protocol's
// Formatter; every other route and method goes through ApiService::Handle itself.
//
// Invariants: no crash, no exception; an accepted generation holds a non-empty prompt of
// in-vocabulary ids, in-vocabulary stop ids, sampling parameters that validate, n in [1, 16],
// the priority at or above the model's bound; a refused one is InvalidArgument / NotFound with
// a message naming the field ("field: why"); every JSON response (errors included) and every
// streamed SSE / NDJSON piece parses as JSON; /tokenize answers in-vocabulary ids.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/unicode.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/fuzz_models.h"
#include "server/http/api_service.h"
#include "server/http/json_fields.h"
#include "server/http/ollama_api.h"
#include "server/http/openai_format.h"
#include "server/http/openai_request.h"
#include "server/request/build_request.h"
#include "server/security/api_keys.h"

using namespace hearth;
using namespace hearth::server;
using namespace hearth::server::http;

namespace {

constexpr int kKeys = 1, kDraining = 2, kParseSpecial = 4;

// One loaded model named "smol" (the registry's answers for it, without loading anything).
class FixedResolver final : public ModelResolver {
 public:
  explicit FixedResolver(ServedEngine served)
      : served_(std::make_shared<const ServedEngine>(std::move(served))) {}
  absl::StatusOr<ModelLease> Acquire(absl::string_view name, absl::Time) const override {
    RETURN_IF_ERROR(CanonicalName(name).status());
    return served_;
  }
  bool NeedsLoad(absl::string_view) const override { return false; }
  std::vector<ModelStatus> List() const override {
    ModelStatus status;
    status.name = served_->model.name;
    status.loaded = true;
    status.facts = served_->facts;
    status.max_model_len = served_->model.max_model_len;
    return {status};
  }
  absl::StatusOr<std::string> CanonicalName(absl::string_view name) const override {
    if (name.empty() || name == served_->model.name) return served_->model.name;
    return absl::NotFoundError(
        absl::StrCat("model '", name, "' is not served (served: ", served_->model.name, ")"));
  }
  void UnloadWhenIdle(absl::string_view) const override {}
  const ServedModel& model() const { return served_->model; }

 private:
  ModelLease served_;
};

struct World {
  std::unique_ptr<security::ApiKeys> keys;
  std::unique_ptr<FixedResolver> resolvers[2];  // [parse_special]
  std::unique_ptr<ApiService> services[8];      // [flags]
};

const World& TheWorld() {
  static const World* world = [] {
    auto* w = new World;
    const engine::tokenizer::Tokenizer* tok = fuzz::DefaultModelTokenizer();
    if (tok == nullptr) tok = &fuzz::SyntheticGpt2Tokenizer();
    w->keys = *security::ApiKeys::Create({"sk-fuzz"}, "");
    for (int special = 0; special < 2; ++special) {
      ServedEngine e;
      e.model.name = "smol";
      e.model.tokenizer = tok;
      auto chat = engine::tokenizer::ChatTemplate::Detect(tok->chat_template());
      if (chat.ok()) e.model.chat_template = *std::move(chat);
      e.model.max_model_len = 8192;
      e.model.min_priority = -10;
      e.model.chat_parse_special = special == 1;
      e.facts.architecture = "llama";
      e.facts.quant_type = "Q4_1";
      e.facts.parameter_count = 134515008;
      e.engine = nullptr;  // never reached: generations stop before Submit
      w->resolvers[special] = std::make_unique<FixedResolver>(std::move(e));
    }
    for (int flags = 0; flags < 8; ++flags) {
      ApiServiceOptions o;
      o.models = w->resolvers[(flags & kParseSpecial) ? 1 : 0].get();
      o.keys = (flags & kKeys) ? w->keys.get() : nullptr;
      o.version = "fuzz";
      w->services[flags] = std::make_unique<ApiService>(std::move(o));
      if (flags & kDraining) w->services[flags]->StartDraining();
    }
    return w;
  }();
  return *world;
}

void CheckJson(absl::string_view text, const char* what) {
  fuzz::Check(Json::accept(std::string_view(text.data(), text.size())), what);
}

void CheckResponse(const HttpResponse& r) {
  fuzz::Check(r.status >= 200 && r.status <= 599, "HTTP status in range");
  if (r.content_type == "application/json") CheckJson(r.body, "JSON response parses");
  if (r.status >= 400) fuzz::Check(!r.body.empty(), "error responses have a body");
}

// A refusal on the generation path names the field: "temperature: must be ...".
void CheckRefusal(const absl::Status& st, bool ollama) {
  fuzz::Check(!st.ok(), "refusal is an error");
  const absl::string_view m = st.message();
  if (st.code() == absl::StatusCode::kInvalidArgument) {
    const size_t colon = m.find(": ");
    fuzz::Check(colon != absl::string_view::npos && colon > 0, "error names the field");
  } else {
    fuzz::Check(st.code() == absl::StatusCode::kNotFound && !m.empty(), "unknown model: NotFound");
  }
  CheckResponse(ollama ? ollama::ErrorResponse(st) : openai::ErrorResponse(st));
}

void CheckAccepted(const engine::Request& r, const ServedModel& model) {
  const int32_t vocab = model.tokenizer->vocab_size();
  fuzz::Check(!r.prompt_tokens.empty(), "non-empty prompt");
  for (int32_t id : r.prompt_tokens) fuzz::Check(id >= 0 && id < vocab, "prompt id in vocab");
  for (int32_t id : r.params.stop_token_ids) fuzz::Check(id >= 0 && id < vocab, "stop id in vocab");
  fuzz::Check(r.params.Validate().ok(), "accepted params validate");
  fuzz::Check(r.params.n >= 1 && r.params.n <= kMaxParallelSamples, "n range");
  fuzz::Check(r.priority >= model.min_priority, "priority clamped");
}

// Renders a made-up generation (the prompt's first tokens as output, a finish) through the
// protocol's formatter and checks every piece.
void Render(Formatter& f, const std::vector<const engine::Request*>& requests,
            const ServedModel& model) {
  std::string out;
  for (size_t p = 0; p < requests.size(); ++p) {
    const engine::Request& r = *requests[p];
    for (int32_t s = 0; s < r.params.n; ++s) {
      engine::RequestOutput o;
      o.sample_index = static_cast<int32_t>(p) * r.params.n + s;
      const size_t k = std::min<size_t>(r.prompt_tokens.size(), 4);
      o.token_ids.assign(r.prompt_tokens.begin(), r.prompt_tokens.begin() + k);
      o.text = engine::tokenizer::SanitizeUtf8(model.tokenizer->Decode(o.token_ids, {}));
      o.finish = sampler::FinishInfo{};
      o.usage.prompt_tokens = static_cast<int32_t>(r.prompt_tokens.size());
      o.usage.completion_tokens = static_cast<int32_t>(k);
      f.OnDelta(o, &out);
    }
  }
  f.OnEnd(&out);
  if (!f.streaming()) return CheckJson(out, "non-streamed body parses");
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&line, "data: ") && line == "[DONE]") continue;
    CheckJson(line, "streamed piece parses");
  }
}

void OpenAiGeneration(const HttpRequest& http, bool chat, const ModelResolver& models) {
  auto body = ParseJsonObject(http.body);
  if (!body.ok()) return CheckRefusal(body.status(), false);
  auto parsed =
      chat ? openai::ParseChatCompletionRequest(*body) : openai::ParseCompletionRequest(*body);
  if (!parsed.ok()) return CheckRefusal(parsed.status(), false);
  auto served = models.Acquire(parsed->model, absl::InfiniteFuture());
  if (!served.ok()) return CheckRefusal(served.status(), false);
  const ServedModel& model = (*served)->model;
  const FieldNames& names = chat ? openai::ChatFieldNames() : openai::CompletionFieldNames();
  fuzz::Check(!parsed->specs.empty(), "at least one prompt");
  std::vector<engine::Request> built;
  openai::CompletionCall call;
  for (const GenerateSpec& spec : parsed->specs) {
    auto r = BuildEngineRequest(spec, model, names);
    if (!r.ok()) return CheckRefusal(r.status(), false);
    CheckAccepted(*r, model);
    fuzz::Check(r->params.n == parsed->n, "n as parsed");
    call.prompt_tokens.push_back(static_cast<int32_t>(r->prompt_tokens.size()));
    built.push_back(*std::move(r));
  }
  call.chat = chat;
  call.id = "cmpl-fuzz";
  call.model = model.name;
  call.n = parsed->n;
  call.stream = parsed->stream;
  call.include_usage = parsed->include_usage;
  call.continuous_usage = parsed->continuous_usage;
  call.logprobs = parsed->logprobs;
  call.tokenizer = model.tokenizer;
  std::vector<const engine::Request*> requests;
  for (const auto& r : built) requests.push_back(&r);
  Render(*openai::MakeCompletionFormatter(call), requests, model);
}

void OllamaGeneration(const HttpRequest& http, bool chat, const ModelResolver& models) {
  auto body = ParseJsonObject(http.body);
  if (!body.ok()) return CheckRefusal(body.status(), true);
  auto parsed = chat ? ollama::ParseChatRequest(*body) : ollama::ParseGenerateRequest(*body);
  if (!parsed.ok()) return CheckRefusal(parsed.status(), true);
  auto served = models.Acquire(parsed->model, absl::InfiniteFuture());
  if (!served.ok()) return CheckRefusal(served.status(), true);
  const ServedModel& model = (*served)->model;
  if (parsed->load_only) return CheckResponse(ollama::LoadResponse(*parsed, model.name));
  auto r = BuildEngineRequest(parsed->spec, model, ollama::OllamaFieldNames());
  if (!r.ok()) return CheckRefusal(r.status(), true);
  CheckAccepted(*r, model);
  auto f = ollama::MakeOllamaFormatter({chat, parsed->stream, model.name});
  Render(*f, {&*r}, model);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (64 << 10)) return 0;
  fuzz::FuzzInput in(data, size);
  const int flags = in.Byte() & 7;
  std::string_view rest = in.Rest();
  auto line = [&rest] {
    const size_t nl = rest.find('\n');
    const std::string_view l = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    return l;
  };
  const std::string_view request_line = line();
  const size_t sp = request_line.find(' ');
  HttpRequest request;
  request.method = std::string(request_line.substr(0, sp));
  SetTarget(sp == std::string_view::npos ? "" : request_line.substr(sp + 1), &request);
  request.authorization = std::string(line());
  request.content_type = "application/json";
  request.body = std::string(rest);
  fuzz::Check(request.path.find('?') == std::string::npos, "the path stops at '?'");

  const World& w = TheWorld();
  ApiService& service = *w.services[flags];
  const FixedResolver& models = *w.resolvers[(flags & kParseSpecial) ? 1 : 0];
  const std::string& path = request.path;
  const bool openai_gen = path == "/v1/completions" || path == "/v1/chat/completions";
  const bool ollama_gen = path == "/api/generate" || path == "/api/chat";
  const bool authorized =
      !(flags & kKeys) || w.keys->CheckAuthorization(request.authorization).ok();
  if ((openai_gen || ollama_gen) && request.method == "POST" && !(flags & kDraining) &&
      authorized) {
    if (openai_gen) OpenAiGeneration(request, path == "/v1/chat/completions", models);
    if (ollama_gen) OllamaGeneration(request, path == "/api/chat", models);
    return 0;
  }
  Reply reply = service.Handle(request);
  auto* response = std::get_if<HttpResponse>(&reply);
  fuzz::Check(response != nullptr, "no stream without an engine");
  CheckResponse(*response);
  if (!authorized && path != "/" && path != "/health") {
    fuzz::Check(response->status == 401, "unauthorized calls get 401");
  }
  if (path == "/tokenize" && response->status == 200) {
    const Json body = Json::parse(response->body);
    const int32_t vocab = models.model().tokenizer->vocab_size();
    for (const Json& id : body.at("tokens")) {
      fuzz::Check(id.get<int64_t>() >= 0 && id.get<int64_t>() < vocab, "tokenize ids in vocab");
    }
  }
  return 0;
}
