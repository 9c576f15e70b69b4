#include "server/grpc/request_builder.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/tokenizer/unicode.h"

namespace hearth::server {
namespace {

absl::Status Bad(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

absl::Status CheckIds(const std::string& field, const google::protobuf::RepeatedField<int32_t>& ids,
                      int32_t vocab) {
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return Bad(absl::StrCat(field, "[", i, "]"),
                 absl::StrCat("token id ", ids[i], " is outside the vocabulary [0, ", vocab, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<sampler::SamplingParams> ToSamplingParams(const v1::SamplingParams& s,
                                                         int32_t vocab) {
  sampler::SamplingParams p;
  if (s.has_n()) {
    if (s.n() < 1 || s.n() > kMaxParallelSamples) {
      return Bad("sampling.n",
                 absl::StrCat("must be in [1, ", kMaxParallelSamples, "], got ", s.n()));
    }
    p.n = s.n();
  }
  if (s.has_temperature()) p.temperature = s.temperature();
  if (s.has_top_p()) p.top_p = s.top_p();
  if (s.has_top_k()) p.top_k = s.top_k();
  if (s.has_min_p()) p.min_p = s.min_p();
  if (s.has_repetition_penalty()) p.repetition_penalty = s.repetition_penalty();
  if (s.has_presence_penalty()) p.presence_penalty = s.presence_penalty();
  if (s.has_frequency_penalty()) p.frequency_penalty = s.frequency_penalty();
  if (s.has_seed()) p.seed = s.seed();
  p.max_tokens = s.has_max_tokens() ? s.max_tokens() : kDefaultMaxTokens;
  if (s.has_min_tokens()) p.min_tokens = s.min_tokens();
  if (s.has_ignore_eos()) p.ignore_eos = s.ignore_eos();
  if (s.stop_size() > kMaxStopStrings) {
    return Bad("sampling.stop",
               absl::StrCat("at most ", kMaxStopStrings, " stop strings, got ", s.stop_size()));
  }
  p.stop.assign(s.stop().begin(), s.stop().end());
  RETURN_IF_ERROR(CheckIds("sampling.stop_token_ids", s.stop_token_ids(), vocab));
  p.stop_token_ids.assign(s.stop_token_ids().begin(), s.stop_token_ids().end());
  if (s.has_include_stop_str_in_output()) {
    p.include_stop_str_in_output = s.include_stop_str_in_output();
  }
  if (s.has_logprobs()) p.logprobs = s.logprobs();
  if (s.has_skip_special_tokens() && !s.skip_special_tokens()) {
    // The engine's incremental decoder always skips special tokens today.
    return Bad("sampling.skip_special_tokens", "false is not supported yet");
  }
  if (absl::Status st = p.Validate(); !st.ok()) {
    return absl::InvalidArgumentError(st.message());
  }
  return p;
}

absl::StatusOr<std::vector<int32_t>> Prompt(const v1::GenerateRequest& r,
                                            const ServedModel& model) {
  const engine::tokenizer::Tokenizer& tok = *model.tokenizer;
  switch (r.input_case()) {
    case v1::GenerateRequest::kText:
      if (r.text().empty()) return Bad("text", "must not be empty");
      return tok.Encode(r.text(), {.add_special = true, .parse_special = true});
    case v1::GenerateRequest::kTokenIds: {
      if (r.token_ids().ids().empty()) return Bad("token_ids", "must not be empty");
      RETURN_IF_ERROR(CheckIds("token_ids.ids", r.token_ids().ids(), tok.vocab_size()));
      return std::vector<int32_t>(r.token_ids().ids().begin(), r.token_ids().ids().end());
    }
    case v1::GenerateRequest::kChat: {
      if (r.chat().messages().empty()) return Bad("chat.messages", "must not be empty");
      if (!model.chat_template.has_value()) {
        return Bad("chat", absl::StrCat("the model's chat template is not supported: ",
                                        model.chat_template_error));
      }
      std::vector<engine::tokenizer::ChatMessage> messages;
      for (int i = 0; i < r.chat().messages_size(); ++i) {
        const v1::ChatMessage& m = r.chat().messages(i);
        if (absl::Status st = engine::tokenizer::CheckChatRole(m.role()); !st.ok()) {
          return Bad(absl::StrCat("chat.messages[", i, "].role"), std::string(st.message()));
        }
        messages.push_back({m.role(), m.content()});
      }
      const bool add_generation_prompt =
          !r.chat().has_add_generation_prompt() || r.chat().add_generation_prompt();
      auto chat = model.chat_template->Render(messages, add_generation_prompt);
      if (!chat.ok()) return Bad("chat", std::string(chat.status().message()));
      engine::tokenizer::EncodeOptions options{.add_special = true, .parse_special = true};
      if (!model.chat_parse_special) options.literal_spans = chat->content_spans;
      return tok.Encode(chat->text, options);
    }
    case v1::GenerateRequest::INPUT_NOT_SET:
      break;
  }
  return Bad("input", "one of text, token_ids or chat must be set");
}

}  // namespace

absl::Status CheckModelName(const std::string& requested, const ServedModel& model) {
  if (requested.empty() || requested == model.name) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat("model: '", engine::tokenizer::SanitizeUtf8(requested),
                                          "' is not served here (this server serves '", model.name,
                                          "')"));
}

absl::StatusOr<engine::Request> BuildEngineRequest(const v1::GenerateRequest& request,
                                                   const ServedModel& model) {
  RETURN_IF_ERROR(CheckModelName(request.model(), model));
  engine::Request out;
  ASSIGN_OR_RETURN(out.params, ToSamplingParams(request.sampling(), model.tokenizer->vocab_size()));
  ASSIGN_OR_RETURN(out.prompt_tokens, Prompt(request, model));
  if (out.prompt_tokens.empty()) return Bad("input", "tokenizes to no tokens");
  out.priority = std::max(request.priority(), model.min_priority);
  return out;
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
      response->set_finish_reason(v1::FINISH_REASON_ABORT);
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
