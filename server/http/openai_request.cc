#include "server/http/openai_request.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/request/build_request.h"

namespace hearth::server::http::openai {
namespace {

PromptSpec TextPrompt(std::string text) {
  PromptSpec p;
  p.text = std::move(text);
  return p;
}

PromptSpec IdsPrompt(std::vector<int64_t> ids) {
  PromptSpec p;
  p.token_ids = std::move(ids);
  return p;
}

absl::Status Bad(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

FieldNames MakeNames(const char* input, const char* logprobs) {
  FieldNames n{};
  auto set = [&n](Field f, const char* name) { n[static_cast<size_t>(f)] = name; };
  set(Field::kModel, "model");
  set(Field::kInput, input);
  set(Field::kText, input);
  set(Field::kTokenIds, input);
  set(Field::kChat, input);
  set(Field::kN, "n");
  set(Field::kTemperature, "temperature");
  set(Field::kTopP, "top_p");
  set(Field::kTopK, "top_k");
  set(Field::kMinP, "min_p");
  set(Field::kRepetitionPenalty, "repetition_penalty");
  set(Field::kPresencePenalty, "presence_penalty");
  set(Field::kFrequencyPenalty, "frequency_penalty");
  set(Field::kSeed, "seed");
  set(Field::kMaxTokens, "max_tokens");
  set(Field::kMinTokens, "min_tokens");
  set(Field::kStop, "stop");
  set(Field::kStopTokenIds, "stop_token_ids");
  set(Field::kLogprobs, logprobs);
  set(Field::kSkipSpecialTokens, "skip_special_tokens");
  return n;
}

// Refuses a parameter Hearth cannot honour when it is present with a non-default value.
absl::Status Unsupported(const Json& body, absl::string_view key, absl::string_view why) {
  const Json* v = Find(body, key);
  if (v == nullptr) return absl::OkStatus();
  const bool is_default = (v->is_boolean() && !v->get<bool>()) ||
                          ((v->is_object() || v->is_array() || v->is_string()) && v->empty());
  return is_default ? absl::OkStatus() : Bad(key, why);
}

// The sampling fields both endpoints share.
absl::StatusOr<SamplingSpec> ParseSampling(const Json& b, bool chat, int32_t* n) {
  SamplingSpec s;
  ASSIGN_OR_RETURN(s.n, GetInt(b, "n", "n"));
  if (s.n.has_value()) {
    if (*s.n < 1 || *s.n > kMaxParallelSamples) {
      return Bad("n", absl::StrCat("must be in [1, ", kMaxParallelSamples, "], got ", *s.n));
    }
    *n = static_cast<int32_t>(*s.n);
  }
  ASSIGN_OR_RETURN(s.temperature, GetNumber(b, "temperature", "temperature"));
  ASSIGN_OR_RETURN(s.top_p, GetNumber(b, "top_p", "top_p"));
  ASSIGN_OR_RETURN(s.top_k, GetInt(b, "top_k", "top_k"));
  ASSIGN_OR_RETURN(s.min_p, GetNumber(b, "min_p", "min_p"));
  ASSIGN_OR_RETURN(s.repetition_penalty, GetNumber(b, "repetition_penalty", "repetition_penalty"));
  ASSIGN_OR_RETURN(s.presence_penalty, GetNumber(b, "presence_penalty", "presence_penalty"));
  ASSIGN_OR_RETURN(s.frequency_penalty, GetNumber(b, "frequency_penalty", "frequency_penalty"));
  ASSIGN_OR_RETURN(s.seed, GetUint(b, "seed", "seed"));
  ASSIGN_OR_RETURN(s.max_tokens, GetInt(b, "max_tokens", "max_tokens"));
  if (chat) {
    ASSIGN_OR_RETURN(std::optional<int64_t> mct,
                     GetInt(b, "max_completion_tokens", "max_completion_tokens"));
    if (mct.has_value()) s.max_tokens = mct;
    // Chat completions run until a stop or the context's end unless bounded (as OpenAI's).
    s.max_tokens_unbounded = true;
  }
  ASSIGN_OR_RETURN(s.min_tokens, GetInt(b, "min_tokens", "min_tokens"));
  ASSIGN_OR_RETURN(s.ignore_eos, GetBool(b, "ignore_eos", "ignore_eos"));
  ASSIGN_OR_RETURN(s.stop, GetStringOrList(b, "stop", "stop"));
  ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> stop_ids,
                   GetIntList(b, "stop_token_ids", "stop_token_ids"));
  if (stop_ids.has_value()) s.stop_token_ids = *std::move(stop_ids);
  ASSIGN_OR_RETURN(s.include_stop_str_in_output,
                   GetBool(b, "include_stop_str_in_output", "include_stop_str_in_output"));
  ASSIGN_OR_RETURN(s.skip_special_tokens, GetBool(b, "skip_special_tokens", "skip_special_tokens"));
  ASSIGN_OR_RETURN(std::optional<std::string> user, GetString(b, "user", "user"));
  (void)user;  // accepted for compatibility; not used
  RETURN_IF_ERROR(Unsupported(b, "logit_bias", "not supported"));
  ASSIGN_OR_RETURN(std::optional<int64_t> best_of, GetInt(b, "best_of", "best_of"));
  if (best_of.has_value() && *best_of != *n) {
    return Bad("best_of", "only best_of == n is supported");
  }
  return s;
}

// Structured output: `response_format` ({"type": "text" | "json_object" | "json_schema",
// "json_schema": {"name", "schema", "strict"}}) or one of vLLM's extra parameters
// guided_json / guided_regex / guided_choice / guided_grammar. At most one.
absl::StatusOr<std::optional<constraint::ConstraintSpec>> ParseConstraint(const Json& b,
                                                                          std::string* field) {
  using Kind = constraint::ConstraintSpec::Kind;
  std::optional<constraint::ConstraintSpec> out;
  auto set = [&](const char* name, Kind kind, std::string text) -> absl::Status {
    if (out.has_value()) {
      return Bad(name, absl::StrCat("cannot be combined with ", *field));
    }
    out.emplace();
    out->kind = kind;
    out->text = std::move(text);
    *field = name;
    return absl::OkStatus();
  };
  if (const Json* rf = Find(b, "response_format"); rf != nullptr && !rf->is_null()) {
    if (!rf->is_object()) {
      return Bad("response_format", absl::StrCat("must be an object, got ", JsonTypeName(*rf)));
    }
    ASSIGN_OR_RETURN(std::optional<std::string> type,
                     GetString(*rf, "type", "response_format.type"));
    if (!type.has_value()) return Bad("response_format.type", "is required");
    if (*type == "json_object") {
      RETURN_IF_ERROR(set("response_format", Kind::kJsonObject, ""));
    } else if (*type == "json_schema") {
      const Json* js = Find(*rf, "json_schema");
      if (js == nullptr || !js->is_object()) {
        return Bad("response_format.json_schema", "must be an object with a \"schema\"");
      }
      const Json* schema = Find(*js, "schema");
      if (schema == nullptr || !(schema->is_object() || schema->is_boolean())) {
        return Bad("response_format.json_schema.schema", "must be a JSON schema object");
      }
      RETURN_IF_ERROR(set("response_format", Kind::kJsonSchema, DumpJson(*schema)));
    } else if (*type != "text") {
      return Bad("response_format.type",
                 absl::StrCat("must be text, json_object or json_schema, got '", *type, "'"));
    }
  }
  if (const Json* g = Find(b, "guided_json"); g != nullptr && !g->is_null()) {
    if (!(g->is_object() || g->is_string())) {
      return Bad("guided_json", "must be a JSON schema (an object or its text)");
    }
    RETURN_IF_ERROR(set("guided_json", Kind::kJsonSchema,
                        g->is_string() ? g->get<std::string>() : DumpJson(*g)));
  }
  ASSIGN_OR_RETURN(std::optional<std::string> regex, GetString(b, "guided_regex", "guided_regex"));
  if (regex.has_value()) RETURN_IF_ERROR(set("guided_regex", Kind::kRegex, *regex));
  ASSIGN_OR_RETURN(std::optional<std::string> grammar,
                   GetString(b, "guided_grammar", "guided_grammar"));
  if (grammar.has_value()) RETURN_IF_ERROR(set("guided_grammar", Kind::kGrammar, *grammar));
  if (const Json* c = Find(b, "guided_choice"); c != nullptr && !c->is_null()) {
    if (!c->is_array() || c->empty()) {
      return Bad("guided_choice", "must be a non-empty list of strings");
    }
    std::vector<std::string> choices;
    for (const Json& item : *c) {
      if (!item.is_string()) return Bad("guided_choice", "must be a non-empty list of strings");
      choices.push_back(item.get<std::string>());
    }
    RETURN_IF_ERROR(set("guided_choice", Kind::kChoice, ""));
    out->choices = std::move(choices);
  }
  return out;
}

absl::Status ParseCommon(const Json& b, CompletionRequest& r) {
  ASSIGN_OR_RETURN(std::optional<std::string> model, GetString(b, "model", "model"));
  r.model = model.value_or("");
  ASSIGN_OR_RETURN(std::optional<bool> stream, GetBool(b, "stream", "stream"));
  r.stream = stream.value_or(false);
  if (const Json* opts = Find(b, "stream_options"); opts != nullptr) {
    if (!opts->is_object()) {
      return Bad("stream_options", absl::StrCat("must be an object, got ", JsonTypeName(*opts)));
    }
    if (!r.stream) return Bad("stream_options", "only allowed with stream: true");
    ASSIGN_OR_RETURN(std::optional<bool> usage,
                     GetBool(*opts, "include_usage", "stream_options.include_usage"));
    r.include_usage = usage.value_or(false);
    ASSIGN_OR_RETURN(
        std::optional<bool> continuous,
        GetBool(*opts, "continuous_usage_stats", "stream_options.continuous_usage_stats"));
    r.continuous_usage = continuous.value_or(false);
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> priority, GetInt(b, "priority", "priority"));
  if (priority.has_value() && (*priority < -1000000 || *priority > 1000000)) {
    return Bad("priority", "must be in [-1000000, 1000000]");
  }
  for (GenerateSpec& spec : r.specs) spec.priority = static_cast<int32_t>(priority.value_or(0));
  std::string field;
  ASSIGN_OR_RETURN(std::optional<constraint::ConstraintSpec> constraint,
                   ParseConstraint(b, &field));
  for (GenerateSpec& spec : r.specs) {
    spec.constraint = constraint;
    spec.constraint_field = field;
  }
  return absl::OkStatus();
}

// Chat message content: a string or a list of {"type": "text", "text": ...} parts.
absl::StatusOr<std::string> MessageContent(const Json& m, const std::string& name) {
  const Json* content = Find(m, "content");
  if (content == nullptr) return std::string();
  if (content->is_string()) return content->get<std::string>();
  if (!content->is_array()) {
    return Bad(name,
               absl::StrCat("must be a string or a list of parts, got ", JsonTypeName(*content)));
  }
  std::string text;
  for (size_t i = 0; i < content->size(); ++i) {
    const Json& part = (*content)[i];
    const std::string part_name = absl::StrCat(name, "[", i, "]");
    if (!part.is_object()) return Bad(part_name, "must be an object");
    ASSIGN_OR_RETURN(std::optional<std::string> type, GetString(part, "type", part_name + ".type"));
    if (type.value_or("") != "text") {
      return Bad(part_name + ".type",
                 absl::StrCat("only text parts are supported, got '", type.value_or(""), "'"));
    }
    ASSIGN_OR_RETURN(std::optional<std::string> t, GetString(part, "text", part_name + ".text"));
    text += t.value_or("");
  }
  return text;
}

}  // namespace

const FieldNames& CompletionFieldNames() {
  static const FieldNames names = MakeNames("prompt", "logprobs");
  return names;
}

const FieldNames& ChatFieldNames() {
  static const FieldNames names = MakeNames("messages", "top_logprobs");
  return names;
}

absl::StatusOr<CompletionRequest> ParseCompletionRequest(const Json& b) {
  CompletionRequest r;
  ASSIGN_OR_RETURN(SamplingSpec sampling, ParseSampling(b, /*chat=*/false, &r.n));
  ASSIGN_OR_RETURN(std::optional<int64_t> logprobs, GetInt(b, "logprobs", "logprobs"));
  if (logprobs.has_value()) {
    r.logprobs = true;
    r.top_logprobs = static_cast<int32_t>(std::clamp<int64_t>(*logprobs, -1, 1000));
    sampling.logprobs = *logprobs;
  }
  RETURN_IF_ERROR(Unsupported(b, "echo", "not supported"));
  RETURN_IF_ERROR(Unsupported(b, "suffix", "not supported"));
  const Json* prompt = Find(b, "prompt");
  if (prompt == nullptr) return Bad("prompt", "is required");
  auto add = [&](PromptSpec p) {
    GenerateSpec spec;
    spec.prompt = std::move(p);
    spec.sampling = sampling;
    r.specs.push_back(std::move(spec));
  };
  if (prompt->is_string()) {
    add(TextPrompt(prompt->get<std::string>()));
  } else if (prompt->is_array()) {
    if (prompt->empty()) return Bad("prompt", "must not be empty");
    const Json& first = (*prompt)[0];
    if (first.is_number()) {
      ASSIGN_OR_RETURN(std::vector<int64_t> ids, ToIntList(*prompt, "prompt"));
      add(IdsPrompt(std::move(ids)));
    } else {
      if (prompt->size() > 64) return Bad("prompt", "at most 64 prompts per request");
      for (size_t i = 0; i < prompt->size(); ++i) {
        const Json& p = (*prompt)[i];
        const std::string name = absl::StrCat("prompt[", i, "]");
        if (p.is_string()) {
          add(TextPrompt(p.get<std::string>()));
        } else if (p.is_array()) {
          ASSIGN_OR_RETURN(std::vector<int64_t> ids, ToIntList(p, name));
          add(IdsPrompt(std::move(ids)));
        } else {
          return Bad(
              name, absl::StrCat("must be a string or a list of token ids, got ", JsonTypeName(p)));
        }
      }
    }
  } else {
    return Bad("prompt", absl::StrCat("must be a string, a list of strings or token ids, got ",
                                      JsonTypeName(*prompt)));
  }
  RETURN_IF_ERROR(ParseCommon(b, r));
  return r;
}

absl::StatusOr<CompletionRequest> ParseChatCompletionRequest(const Json& b) {
  CompletionRequest r;
  r.chat = true;
  ASSIGN_OR_RETURN(SamplingSpec sampling, ParseSampling(b, /*chat=*/true, &r.n));
  ASSIGN_OR_RETURN(std::optional<bool> logprobs, GetBool(b, "logprobs", "logprobs"));
  ASSIGN_OR_RETURN(std::optional<int64_t> top, GetInt(b, "top_logprobs", "top_logprobs"));
  if (top.has_value() && !logprobs.value_or(false)) {
    return Bad("top_logprobs", "requires logprobs: true");
  }
  if (logprobs.value_or(false)) {
    r.logprobs = true;
    r.top_logprobs = static_cast<int32_t>(std::clamp<int64_t>(top.value_or(0), -1, 1000));
    sampling.logprobs = top.value_or(0);
  }
  RETURN_IF_ERROR(Unsupported(b, "tools", "tool calling is not supported"));
  RETURN_IF_ERROR(Unsupported(b, "functions", "function calling is not supported"));
  const Json* messages = Find(b, "messages");
  if (messages == nullptr) return Bad("messages", "is required");
  if (!messages->is_array()) {
    return Bad("messages", absl::StrCat("must be a list, got ", JsonTypeName(*messages)));
  }
  GenerateSpec spec;
  auto& chat = spec.prompt.chat.emplace();
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& m = (*messages)[i];
    const std::string name = absl::StrCat("messages[", i, "]");
    if (!m.is_object()) {
      return Bad(name, absl::StrCat("must be an object, got ", JsonTypeName(m)));
    }
    ASSIGN_OR_RETURN(std::optional<std::string> role, GetString(m, "role", name + ".role"));
    if (!role.has_value()) return Bad(name + ".role", "is required");
    ASSIGN_OR_RETURN(std::string content, MessageContent(m, name + ".content"));
    chat.push_back({*role, std::move(content)});
  }
  ASSIGN_OR_RETURN(std::optional<bool> add_generation_prompt,
                   GetBool(b, "add_generation_prompt", "add_generation_prompt"));
  spec.prompt.add_generation_prompt = add_generation_prompt.value_or(true);
  spec.sampling = std::move(sampling);
  r.specs.push_back(std::move(spec));
  RETURN_IF_ERROR(ParseCommon(b, r));
  return r;
}

}  // namespace hearth::server::http::openai
