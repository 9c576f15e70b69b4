#include "server/http/openai_format.h"

#include <algorithm>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/sampler/finish_reason.h"
#include "engine/tokenizer/unicode.h"
#include "server/grpc/status_mapping.h"

namespace hearth::server::http::openai {
namespace {

// Per choice bookkeeping.
struct Choice {
  std::string text;
  Json logprobs_content = Json::array();  // chat: entries; completions: the parallel lists
  std::vector<std::string> tokens;
  std::vector<double> token_logprobs;
  std::vector<Json> top_logprobs;
  std::vector<int64_t> text_offset;
  int64_t offset = 0;  // bytes of text so far (completions' text_offset)
  std::string finish_reason;
  std::string stop_reason;
  int32_t completion_tokens = 0;
  int32_t cached_prompt_tokens = 0;
  bool started = false;  // chat: the role was sent
};

class CompletionFormatter final : public Formatter {
 public:
  explicit CompletionFormatter(CompletionCall call)
      : call_(std::move(call)),
        choices_(call_.prompt_tokens.size() * static_cast<size_t>(call_.n)) {}

  bool streaming() const override { return call_.stream; }
  std::string content_type() const override {
    return call_.stream ? "text/event-stream" : "application/json";
  }

  void OnDelta(const engine::RequestOutput& d, std::string* out) override {
    if (d.sample_index < 0 || static_cast<size_t>(d.sample_index) >= choices_.size()) return;
    Choice& c = choices_[d.sample_index];
    c.completion_tokens += static_cast<int32_t>(d.token_ids.size());
    if (d.finish.has_value()) {
      c.finish_reason = std::string(sampler::FinishReasonName(d.finish->reason()));
      c.stop_reason = d.finish->stop_string;
      c.cached_prompt_tokens = d.usage.cached_prompt_tokens;
    }
    if (!call_.stream) {
      c.text += d.text;
      AppendLogprobs(d, c, &c);
      return;
    }
    if (d.token_ids.empty() && d.text.empty() && !d.finish.has_value()) return;
    Choice piece;  // this chunk's logprobs only
    piece.offset = c.offset;
    AppendLogprobs(d, piece, &c);
    Json choice = {{"index", d.sample_index}};
    if (call_.chat) {
      Json delta = Json::object();
      if (!c.started) delta["role"] = "assistant";
      c.started = true;
      if (!d.text.empty() || delta.contains("role")) delta["content"] = d.text;
      choice["delta"] = std::move(delta);
    } else {
      choice["text"] = d.text;
    }
    choice["logprobs"] = call_.logprobs ? LogprobsJson(piece) : Json(nullptr);
    choice["finish_reason"] = d.finish.has_value() ? Json(c.finish_reason) : Json(nullptr);
    if (d.finish.has_value()) choice["stop_reason"] = StopReason(c);
    Json chunk = Envelope(call_.chat ? "chat.completion.chunk" : "text_completion");
    chunk["choices"] = Json::array({std::move(choice)});
    if (call_.continuous_usage) {
      chunk["usage"] = Usage();
    } else if (call_.include_usage) {
      chunk["usage"] = nullptr;
    }
    AppendEvent(chunk, out);
  }

  void OnEnd(std::string* out) override {
    if (call_.stream) {
      if (call_.include_usage) {
        Json chunk = Envelope(call_.chat ? "chat.completion.chunk" : "text_completion");
        chunk["choices"] = Json::array();
        chunk["usage"] = Usage();
        AppendEvent(chunk, out);
      }
      out->append("data: [DONE]\n\n");
      return;
    }
    Json body = Envelope(call_.chat ? "chat.completion" : "text_completion");
    Json choices = Json::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
      const Choice& c = choices_[i];
      Json choice = {{"index", i}};
      if (call_.chat) {
        choice["message"] = {{"role", "assistant"}, {"content", c.text}};
      } else {
        choice["text"] = c.text;
      }
      choice["logprobs"] = call_.logprobs ? LogprobsJson(c) : Json(nullptr);
      choice["finish_reason"] = c.finish_reason.empty() ? Json(nullptr) : Json(c.finish_reason);
      choice["stop_reason"] = StopReason(c);
      choices.push_back(std::move(choice));
    }
    body["choices"] = std::move(choices);
    body["usage"] = Usage();
    out->append(DumpJson(body));
  }

  void OnError(const absl::Status& status, std::string* out) override {
    if (call_.stream) {
      AppendEvent(ErrorJson(status), out);
      out->append("data: [DONE]\n\n");
    } else {
      out->append(DumpJson(ErrorJson(status)));
    }
  }

 private:
  Json Envelope(const char* object) const {
    return {
        {"id", call_.id}, {"object", object}, {"created", call_.created}, {"model", call_.model}};
  }

  static Json StopReason(const Choice& c) {
    return c.stop_reason.empty() ? Json(nullptr) : Json(c.stop_reason);
  }

  Json Usage() const {
    int64_t prompt = 0, completion = 0, cached = 0;
    for (int32_t p : call_.prompt_tokens) prompt += p;
    for (size_t i = 0; i < choices_.size(); ++i) {
      completion += choices_[i].completion_tokens;
      if (i % call_.n == 0) cached += choices_[i].cached_prompt_tokens;  // once per prompt
    }
    return {{"prompt_tokens", prompt},
            {"completion_tokens", completion},
            {"total_tokens", prompt + completion},
            {"prompt_tokens_details", {{"cached_tokens", cached}}}};
  }

  static void AppendEvent(const Json& chunk, std::string* out) {
    absl::StrAppend(out, "data: ", DumpJson(chunk), "\n\n");
  }

  std::string TokenText(int32_t id) const {
    return engine::tokenizer::SanitizeUtf8(call_.tokenizer->TokenBytes(id, {}));
  }

  static Json Bytes(const std::string& raw) {
    Json bytes = Json::array();
    for (unsigned char ch : raw) bytes.push_back(static_cast<int>(ch));
    return bytes;
  }

  // Adds the delta's logprobs to `into`; `offsets` tracks the running text offset.
  void AppendLogprobs(const engine::RequestOutput& d, Choice& into, Choice* offsets) const {
    if (!call_.logprobs) return;
    for (const sampler::SampledToken& t : d.logprobs) {
      const std::string raw = call_.tokenizer->TokenBytes(t.id, {});
      const std::string text = engine::tokenizer::SanitizeUtf8(raw);
      if (call_.chat) {
        Json top = Json::array();
        for (const auto& alt : t.top_logprobs) {
          const std::string alt_raw = call_.tokenizer->TokenBytes(alt.id, {});
          top.push_back({{"token", engine::tokenizer::SanitizeUtf8(alt_raw)},
                         {"logprob", alt.logprob},
                         {"bytes", Bytes(alt_raw)}});
        }
        into.logprobs_content.push_back({{"token", text},
                                         {"logprob", t.logprob},
                                         {"bytes", Bytes(raw)},
                                         {"top_logprobs", std::move(top)}});
      } else {
        into.tokens.push_back(text);
        into.token_logprobs.push_back(t.logprob);
        Json top = Json::object();
        for (const auto& alt : t.top_logprobs) top[TokenText(alt.id)] = alt.logprob;
        into.top_logprobs.push_back(std::move(top));
        into.text_offset.push_back(offsets->offset);
        offsets->offset += static_cast<int64_t>(raw.size());
        if (&into != offsets) into.offset = offsets->offset;
      }
    }
  }

  Json LogprobsJson(const Choice& c) const {
    if (call_.chat) return {{"content", c.logprobs_content}, {"refusal", nullptr}};
    return {{"tokens", c.tokens},
            {"token_logprobs", c.token_logprobs},
            {"top_logprobs", c.top_logprobs},
            {"text_offset", c.text_offset}};
  }

  const CompletionCall call_;
  std::vector<Choice> choices_;
};

}  // namespace

std::unique_ptr<Formatter> MakeCompletionFormatter(CompletionCall call) {
  return std::make_unique<CompletionFormatter>(std::move(call));
}

std::string NewId(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrFormat("%s%016x%08x", prefix, rng(), static_cast<uint32_t>(rng()));
}

Json ErrorJson(const absl::Status& status) {
  const int http = ToHttpStatus(status.code());
  const char* type = "server_error";
  Json code = nullptr;
  switch (http) {
    case 400:
    case 404:
    case 413:
    case 431:
      type = "invalid_request_error";
      break;
    case 401:
      type = "authentication_error";
      code = "invalid_api_key";
      break;
    case 429:
      type = "rate_limit_error";
      break;
    case 504:
      type = "timeout_error";
      break;
    default:
      break;
  }
  Json param = nullptr;
  const absl::string_view message = status.message();
  if (status.code() == absl::StatusCode::kInvalidArgument) {
    const size_t colon = message.find(": ");
    if (colon != absl::string_view::npos && colon < 64 &&
        message.substr(0, colon).find(' ') == absl::string_view::npos) {
      param = std::string(message.substr(0, colon));
    }
  }
  if (status.code() == absl::StatusCode::kNotFound && message.rfind("model", 0) == 0) {
    code = "model_not_found";
    param = "model";
  }
  return {{"error",
           {{"message", std::string(message)}, {"type", type}, {"param", param}, {"code", code}}}};
}

HttpResponse ErrorResponse(const absl::Status& status) {
  HttpResponse r;
  r.status = ToHttpStatus(status.code());
  r.body = DumpJson(ErrorJson(status));
  if (r.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace hearth::server::http::openai
