#include "server/http/ollama_api.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "engine/sampler/finish_reason.h"
#include "server/grpc/status_mapping.h"

namespace hearth::server::http::ollama {
namespace {

absl::Status Bad(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

// Refuses a present, non-empty value of a field Hearth cannot honour.
absl::Status Unsupported(const Json& body, absl::string_view key, absl::string_view why) {
  const Json* v = Find(body, key);
  if (v == nullptr) return absl::OkStatus();
  if ((v->is_string() || v->is_array() || v->is_object()) && v->empty()) return absl::OkStatus();
  if (v->is_boolean() && !v->get<bool>()) return absl::OkStatus();
  return Bad(key, why);
}

absl::Status ParseOptions(const Json& b, SamplingSpec& s) {
  s.temperature = 0.8;
  s.top_k = 40;
  s.top_p = 0.9;
  s.max_tokens_unbounded = true;
  const Json* o = Find(b, "options");
  if (o == nullptr) return absl::OkStatus();
  if (!o->is_object()) {
    return Bad("options", absl::StrCat("must be an object, got ", JsonTypeName(*o)));
  }
  ASSIGN_OR_RETURN(auto temperature, GetNumber(*o, "temperature", "options.temperature"));
  if (temperature) s.temperature = temperature;
  ASSIGN_OR_RETURN(auto top_k, GetInt(*o, "top_k", "options.top_k"));
  if (top_k) s.top_k = *top_k <= 0 ? 0 : *top_k;  // Ollama: <= 0 is off
  ASSIGN_OR_RETURN(auto top_p, GetNumber(*o, "top_p", "options.top_p"));
  if (top_p) s.top_p = top_p;
  ASSIGN_OR_RETURN(s.min_p, GetNumber(*o, "min_p", "options.min_p"));
  ASSIGN_OR_RETURN(auto num_predict, GetInt(*o, "num_predict", "options.num_predict"));
  if (num_predict.has_value() && *num_predict >= 0) {
    s.max_tokens = *num_predict;
  } else if (num_predict.has_value() && *num_predict != -1 && *num_predict != -2) {
    return Bad("options.num_predict",
               absl::StrCat("must be >= 1, or -1 / -2 for the context's end, got ", *num_predict));
  }
  ASSIGN_OR_RETURN(s.seed, GetUint(*o, "seed", "options.seed"));
  ASSIGN_OR_RETURN(s.stop, GetStringOrList(*o, "stop", "options.stop"));
  ASSIGN_OR_RETURN(s.repetition_penalty, GetNumber(*o, "repeat_penalty", "options.repeat_penalty"));
  ASSIGN_OR_RETURN(s.presence_penalty,
                   GetNumber(*o, "presence_penalty", "options.presence_penalty"));
  ASSIGN_OR_RETURN(s.frequency_penalty,
                   GetNumber(*o, "frequency_penalty", "options.frequency_penalty"));
  return absl::OkStatus();
}

absl::Status ParseCommon(const Json& b, OllamaRequest& r) {
  ASSIGN_OR_RETURN(std::optional<std::string> model, GetString(b, "model", "model"));
  if (!model.has_value() || model->empty()) return Bad("model", "is required");
  r.model = StripLatest(*model);
  r.spec.model = r.model;
  ASSIGN_OR_RETURN(std::optional<bool> stream, GetBool(b, "stream", "stream"));
  r.stream = stream.value_or(true);
  if (const Json* format = Find(b, "format"); format != nullptr && !format->is_null()) {
    // Structured output: "json" (any JSON object) or a JSON schema.
    using Kind = constraint::ConstraintSpec::Kind;
    constraint::ConstraintSpec c;
    if (format->is_string() && format->get<std::string>() == "json") {
      c.kind = Kind::kJsonObject;
    } else if (format->is_object()) {
      c.kind = Kind::kJsonSchema;
      c.text = DumpJson(*format);
    } else if (!(format->is_string() && format->get<std::string>().empty())) {
      return Bad("format", "must be \"json\" or a JSON schema object");
    }
    if (format->is_object() || format->get<std::string>() == "json") {
      r.spec.constraint = std::move(c);
      r.spec.constraint_field = "format";
    }
  }
  if (const Json* keep = Find(b, "keep_alive"); keep != nullptr && !keep->is_null()) {
    if (keep->is_number()) {
      r.unload_after = keep->get<double>() == 0;
    } else if (keep->is_string()) {
      const std::string k = keep->get<std::string>();
      r.unload_after = k == "0" || k == "0s" || k == "0m" || k == "0h" || k == "0ms";
    } else {
      return Bad("keep_alive", absl::StrCat("must be a number of seconds or a duration such as "
                                            "\"5m\", got ",
                                            JsonTypeName(*keep)));
    }
  }
  RETURN_IF_ERROR(Unsupported(b, "images", "images are not supported"));
  RETURN_IF_ERROR(Unsupported(b, "tools", "this model does not support tools"));
  RETURN_IF_ERROR(Unsupported(b, "think", "thinking is not supported"));
  return ParseOptions(b, r.spec.sampling);
}

}  // namespace

const FieldNames& OllamaFieldNames() {
  static const FieldNames names = [] {
    FieldNames n{};
    auto set = [&n](Field f, const char* name) { n[static_cast<size_t>(f)] = name; };
    set(Field::kModel, "model");
    set(Field::kInput, "prompt");
    set(Field::kText, "prompt");
    set(Field::kTokenIds, "prompt");
    set(Field::kChat, "messages");
    set(Field::kN, "n");
    set(Field::kTemperature, "options.temperature");
    set(Field::kTopP, "options.top_p");
    set(Field::kTopK, "options.top_k");
    set(Field::kMinP, "options.min_p");
    set(Field::kRepetitionPenalty, "options.repeat_penalty");
    set(Field::kPresencePenalty, "options.presence_penalty");
    set(Field::kFrequencyPenalty, "options.frequency_penalty");
    set(Field::kSeed, "options.seed");
    set(Field::kMaxTokens, "options.num_predict");
    set(Field::kMinTokens, "options.min_tokens");
    set(Field::kStop, "options.stop");
    set(Field::kStopTokenIds, "options.stop");
    set(Field::kLogprobs, "logprobs");
    set(Field::kSkipSpecialTokens, "options");
    return n;
  }();
  return names;
}

std::string StripLatest(std::string name) {
  if (absl::EndsWith(name, ":latest")) name.resize(name.size() - 7);
  return name;
}

absl::StatusOr<OllamaRequest> ParseGenerateRequest(const Json& b) {
  OllamaRequest r;
  RETURN_IF_ERROR(ParseCommon(b, r));
  RETURN_IF_ERROR(Unsupported(b, "suffix", "fill-in-the-middle is not supported"));
  RETURN_IF_ERROR(Unsupported(b, "template", "custom templates are not supported"));
  RETURN_IF_ERROR(Unsupported(b, "context", "not supported: send the conversation to /api/chat"));
  ASSIGN_OR_RETURN(std::optional<std::string> prompt, GetString(b, "prompt", "prompt"));
  ASSIGN_OR_RETURN(std::optional<std::string> system, GetString(b, "system", "system"));
  ASSIGN_OR_RETURN(std::optional<bool> raw, GetBool(b, "raw", "raw"));
  if (!prompt.has_value() || prompt->empty()) {
    r.load_only = true;
    return r;
  }
  if (raw.value_or(false)) {
    r.spec.prompt.text = *prompt;
  } else {
    // Ollama applies the model's template: the prompt is the user's turn.
    auto& chat = r.spec.prompt.chat.emplace();
    if (system.has_value() && !system->empty()) chat.push_back({"system", *system});
    chat.push_back({"user", *prompt});
  }
  return r;
}

absl::StatusOr<OllamaRequest> ParseChatRequest(const Json& b) {
  OllamaRequest r;
  r.chat = true;
  RETURN_IF_ERROR(ParseCommon(b, r));
  const Json* messages = Find(b, "messages");
  if (messages == nullptr) {
    r.load_only = true;
    return r;
  }
  if (!messages->is_array()) {
    return Bad("messages", absl::StrCat("must be a list, got ", JsonTypeName(*messages)));
  }
  if (messages->empty()) {
    r.load_only = true;
    return r;
  }
  auto& chat = r.spec.prompt.chat.emplace();
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& m = (*messages)[i];
    const std::string name = absl::StrCat("messages[", i, "]");
    if (!m.is_object()) {
      return Bad(name, absl::StrCat("must be an object, got ", JsonTypeName(m)));
    }
    ASSIGN_OR_RETURN(std::optional<std::string> role, GetString(m, "role", name + ".role"));
    if (!role.has_value()) return Bad(name + ".role", "is required");
    ASSIGN_OR_RETURN(std::optional<std::string> content,
                     GetString(m, "content", name + ".content"));
    RETURN_IF_ERROR(Unsupported(m, "images", "images are not supported"));
    RETURN_IF_ERROR(Unsupported(m, "tool_calls", "tool calls are not supported"));
    chat.push_back({*role, content.value_or("")});
  }
  return r;
}

std::string NowRfc3339() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone());
}

namespace {

int64_t Nanos(double seconds) { return static_cast<int64_t>(seconds * 1e9); }

class OllamaFormatter final : public Formatter {
 public:
  explicit OllamaFormatter(OllamaCall call) : call_(std::move(call)) {}

  bool streaming() const override { return call_.stream; }
  std::string content_type() const override {
    return call_.stream ? "application/x-ndjson" : "application/json";
  }

  void OnDelta(const engine::RequestOutput& d, std::string* out) override {
    if (d.finish.has_value()) {
      finish_ = d.finish;
      usage_ = d.usage;
    }
    if (!call_.stream) {
      text_ += d.text;
      return;
    }
    if (d.text.empty()) return;
    Json line = Head(d.text);
    line["done"] = false;
    absl::StrAppend(out, DumpJson(line), "\n");
  }

  void OnEnd(std::string* out) override {
    Json line = Head(call_.stream ? std::string() : text_);
    line["done"] = true;
    line["done_reason"] =
        finish_.has_value() ? std::string(sampler::FinishReasonName(finish_->reason())) : "stop";
    line["total_duration"] = Nanos(usage_.e2e_seconds);
    line["load_duration"] = 0;
    line["prompt_eval_count"] = usage_.prompt_tokens;
    line["prompt_eval_duration"] = Nanos(usage_.queue_seconds + usage_.prefill_seconds);
    line["eval_count"] = usage_.completion_tokens;
    line["eval_duration"] = Nanos(usage_.decode_seconds);
    absl::StrAppend(out, DumpJson(line), call_.stream ? "\n" : "");
  }

  void OnError(const absl::Status& status, std::string* out) override {
    absl::StrAppend(out, DumpJson(Json{{"error", std::string(status.message())}}),
                    call_.stream ? "\n" : "");
  }

 private:
  Json Head(const std::string& text) const {
    Json line = {{"model", call_.model}, {"created_at", NowRfc3339()}};
    if (call_.chat) {
      line["message"] = {{"role", "assistant"}, {"content", text}};
    } else {
      line["response"] = text;
    }
    return line;
  }

  const OllamaCall call_;
  std::string text_;
  std::optional<sampler::FinishInfo> finish_;
  engine::Usage usage_;
};

}  // namespace

std::unique_ptr<Formatter> MakeOllamaFormatter(OllamaCall call) {
  return std::make_unique<OllamaFormatter>(std::move(call));
}

HttpResponse LoadResponse(const OllamaRequest& request, const std::string& model) {
  Json body = {{"model", model}, {"created_at", NowRfc3339()}};
  if (request.chat) {
    body["message"] = {{"role", "assistant"}, {"content", ""}};
  } else {
    body["response"] = "";
  }
  body["done"] = true;
  body["done_reason"] = request.unload_after ? "unload" : "load";
  HttpResponse r;
  r.body = DumpJson(body);
  return r;
}

HttpResponse ErrorResponse(const absl::Status& status) {
  HttpResponse r;
  r.status = ToHttpStatus(status.code());
  r.body = DumpJson(Json{{"error", std::string(status.message())}});
  return r;
}

}  // namespace hearth::server::http::ollama
