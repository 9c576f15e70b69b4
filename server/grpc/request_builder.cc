#include "server/grpc/request_builder.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/tokenizer/unicode.h"

namespace hearth::server {

const FieldNames& GrpcFieldNames() {
  static const FieldNames names = [] {
    FieldNames n{};
    auto set = [&n](Field f, const char* name) { n[static_cast<size_t>(f)] = name; };
    set(Field::kModel, "model");
    set(Field::kInput, "input");
    set(Field::kText, "text");
    set(Field::kTokenIds, "token_ids.ids");
    set(Field::kChat, "chat.messages");
    set(Field::kN, "sampling.n");
    set(Field::kTemperature, "sampling.temperature");
    set(Field::kTopP, "sampling.top_p");
    set(Field::kTopK, "sampling.top_k");
    set(Field::kMinP, "sampling.min_p");
    set(Field::kRepetitionPenalty, "sampling.repetition_penalty");
    set(Field::kPresencePenalty, "sampling.presence_penalty");
    set(Field::kFrequencyPenalty, "sampling.frequency_penalty");
    set(Field::kSeed, "sampling.seed");
    set(Field::kMaxTokens, "sampling.max_tokens");
    set(Field::kMinTokens, "sampling.min_tokens");
    set(Field::kStop, "sampling.stop");
    set(Field::kStopTokenIds, "sampling.stop_token_ids");
    set(Field::kLogprobs, "sampling.logprobs");
    set(Field::kSkipSpecialTokens, "sampling.skip_special_tokens");
    return n;
  }();
  return names;
}

absl::Status CheckModelName(const std::string& requested, const ServedModel& model) {
  if (requested.empty() || requested == model.name) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat("model: '", engine::tokenizer::SanitizeUtf8(requested),
                                          "' is not served here (this server serves '", model.name,
                                          "')"));
}

GenerateSpec ToGenerateSpec(const v1::GenerateRequest& r) {
  GenerateSpec spec;
  spec.model = r.model();
  spec.priority = r.priority();
  switch (r.input_case()) {
    case v1::GenerateRequest::kText:
      spec.prompt.text = r.text();
      break;
    case v1::GenerateRequest::kTokenIds:
      spec.prompt.token_ids.emplace(r.token_ids().ids().begin(), r.token_ids().ids().end());
      break;
    case v1::GenerateRequest::kChat: {
      auto& chat = spec.prompt.chat.emplace();
      for (const v1::ChatMessage& m : r.chat().messages()) chat.push_back({m.role(), m.content()});
      spec.prompt.add_generation_prompt =
          !r.chat().has_add_generation_prompt() || r.chat().add_generation_prompt();
      break;
    }
    case v1::GenerateRequest::INPUT_NOT_SET:
      break;
  }
  spec.sampling = ToSamplingSpec(r.sampling());
  return spec;
}

SamplingSpec ToSamplingSpec(const v1::SamplingParams& s) {
  SamplingSpec out;
  if (s.has_n()) out.n = s.n();
  if (s.has_temperature()) out.temperature = s.temperature();
  if (s.has_top_p()) out.top_p = s.top_p();
  if (s.has_top_k()) out.top_k = s.top_k();
  if (s.has_min_p()) out.min_p = s.min_p();
  if (s.has_repetition_penalty()) out.repetition_penalty = s.repetition_penalty();
  if (s.has_presence_penalty()) out.presence_penalty = s.presence_penalty();
  if (s.has_frequency_penalty()) out.frequency_penalty = s.frequency_penalty();
  if (s.has_seed()) out.seed = s.seed();
  if (s.has_max_tokens()) out.max_tokens = s.max_tokens();
  if (s.has_min_tokens()) out.min_tokens = s.min_tokens();
  if (s.has_ignore_eos()) out.ignore_eos = s.ignore_eos();
  out.stop.assign(s.stop().begin(), s.stop().end());
  out.stop_token_ids.assign(s.stop_token_ids().begin(), s.stop_token_ids().end());
  if (s.has_include_stop_str_in_output()) {
    out.include_stop_str_in_output = s.include_stop_str_in_output();
  }
  if (s.has_logprobs()) out.logprobs = s.logprobs();
  if (s.has_skip_special_tokens()) out.skip_special_tokens = s.skip_special_tokens();
  return out;
}

absl::StatusOr<engine::Request> BuildEngineRequest(const v1::GenerateRequest& request,
                                                   const ServedModel& model) {
  if (request.input_case() == v1::GenerateRequest::INPUT_NOT_SET) {
    return absl::InvalidArgumentError("input: one of text, token_ids or chat must be set");
  }
  GenerateSpec spec = ToGenerateSpec(request);
  ASSIGN_OR_RETURN(spec.constraint, ConstraintSpecFromProto(request));
  return BuildEngineRequest(spec, model, GrpcFieldNames());
}

absl::StatusOr<std::optional<constraint::ConstraintSpec>> ConstraintSpecFromProto(
    const v1::GenerateRequest& request) {
  using Kind = constraint::ConstraintSpec::Kind;
  constraint::ConstraintSpec spec;
  switch (request.constraint_case()) {
    case v1::GenerateRequest::CONSTRAINT_NOT_SET:
      return std::nullopt;
    case v1::GenerateRequest::kJsonSchema:
      spec.kind = Kind::kJsonSchema;
      spec.text = request.json_schema();
      break;
    case v1::GenerateRequest::kJsonObject:
      if (!request.json_object())
        return absl::InvalidArgumentError("constraint.json_object: must be true when set");
      spec.kind = Kind::kJsonObject;
      break;
    case v1::GenerateRequest::kRegex:
      spec.kind = Kind::kRegex;
      spec.text = request.regex();
      break;
    case v1::GenerateRequest::kChoice:
      if (request.choice().values().empty()) {
        return absl::InvalidArgumentError("constraint.choice: needs at least one string");
      }
      spec.kind = Kind::kChoice;
      spec.choices.assign(request.choice().values().begin(), request.choice().values().end());
      break;
    case v1::GenerateRequest::kGrammar:
      spec.kind = Kind::kGrammar;
      spec.text = request.grammar();
      break;
  }
  return spec;
}

void ToGenerateResponse(const engine::RequestOutput& out, const std::string& request_id,
                        const engine::tokenizer::Tokenizer& tokenizer,
                        v1::GenerateResponse* response) {
  response->set_request_id(request_id);
  response->set_index(out.sample_index);
  response->mutable_token_ids()->Add(out.token_ids.begin(), out.token_ids.end());
  response->set_text(out.text);
  for (const sampler::SampledToken& t : out.logprobs) {
    v1::TokenLogprob* lp = response->add_logprobs();
    lp->set_token_id(t.id);
    lp->set_logprob(t.logprob);
    for (const auto& top : t.top_logprobs) {
      v1::TopLogprob* p = lp->add_top_logprobs();
      p->set_token_id(top.id);
      p->set_logprob(top.logprob);
      p->set_token(engine::tokenizer::SanitizeUtf8(tokenizer.TokenBytes(top.id, {})));
    }
  }
  if (!out.finish.has_value()) return;
  switch (out.finish->reason()) {
    case sampler::FinishReason::kStop:
      response->set_finish_reason(v1::FINISH_REASON_STOP);
      break;
    case sampler::FinishReason::kLength:
      response->set_finish_reason(v1::FINISH_REASON_LENGTH);
      break;
    case sampler::FinishReason::kAbort:
    case sampler::FinishReason::kError:
    case sampler::FinishReason::kNone:
      response->set_finish_reason(v1::FINISH_REASON_ABORT);
      break;
    case sampler::FinishReason::kConstraintUnmet:
      response->set_finish_reason(v1::FINISH_REASON_CONSTRAINT_UNMET);
      break;
  }
  if (!out.finish->stop_string.empty()) {
    response->set_stop_reason(out.finish->stop_string);
  } else if (out.finish->stop_token_id >= 0) {
    response->set_stop_reason(engine::tokenizer::SanitizeUtf8(
        tokenizer.TokenBytes(out.finish->stop_token_id, {.skip_special = false})));
  }
  v1::Usage* u = response->mutable_usage();
  u->set_prompt_tokens(out.usage.prompt_tokens);
  u->set_cached_prompt_tokens(out.usage.cached_prompt_tokens);
  u->set_completion_tokens(out.usage.completion_tokens);
  u->set_queue_time_seconds(out.usage.queue_seconds);
  u->set_time_to_first_token_seconds(out.usage.time_to_first_token_seconds);
}

}  // namespace hearth::server
