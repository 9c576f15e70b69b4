#include "server/request/build_request.h"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace hearth::server {
namespace {

absl::Status Bad(const FieldNames& names, Field field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(NameOf(names, field), ": ", why));
}

absl::Status CheckIds(const FieldNames& names, Field field, const std::vector<int64_t>& ids,
                      int32_t vocab) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(NameOf(names, field), "[", i, "]: token id ",
                                                     ids[i], " is outside the vocabulary [0, ",
                                                     vocab, ")"));
    }
  }
  return absl::OkStatus();
}

// An int64 field that must fit int32 (ranges are checked again by SamplingParams::Validate).
absl::StatusOr<int32_t> Int32(const FieldNames& names, Field field, int64_t v) {
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
    return Bad(names, field, absl::StrCat("out of range, got ", v));
  }
  return static_cast<int32_t>(v);
}

absl::StatusOr<sampler::SamplingParams> ToSamplingParams(const SamplingSpec& s, int32_t vocab,
                                                         const FieldNames& names) {
  sampler::SamplingParams p;
  if (s.n.has_value()) {
    if (*s.n < 1 || *s.n > kMaxParallelSamples) {
      return Bad(names, Field::kN,
                 absl::StrCat("must be in [1, ", kMaxParallelSamples, "], got ", *s.n));
    }
    p.n = static_cast<int32_t>(*s.n);
  }
  if (s.temperature) p.temperature = static_cast<float>(*s.temperature);
  if (s.top_p) p.top_p = static_cast<float>(*s.top_p);
  if (s.top_k) {
    // Above the vocabulary means "off", as SamplingParams documents.
    ASSIGN_OR_RETURN(p.top_k, Int32(names, Field::kTopK, std::min<int64_t>(*s.top_k, vocab)));
  }
  if (s.min_p) p.min_p = static_cast<float>(*s.min_p);
  if (s.repetition_penalty) p.repetition_penalty = static_cast<float>(*s.repetition_penalty);
  if (s.presence_penalty) p.presence_penalty = static_cast<float>(*s.presence_penalty);
  if (s.frequency_penalty) p.frequency_penalty = static_cast<float>(*s.frequency_penalty);
  if (s.seed) p.seed = *s.seed;
  if (s.max_tokens) {
    ASSIGN_OR_RETURN(p.max_tokens, Int32(names, Field::kMaxTokens, *s.max_tokens));
  } else if (s.max_tokens_unbounded) {
    p.max_tokens.reset();
  } else {
    p.max_tokens = kDefaultMaxTokens;
  }
  if (s.min_tokens) {
    ASSIGN_OR_RETURN(p.min_tokens, Int32(names, Field::kMinTokens, *s.min_tokens));
  }
  if (s.ignore_eos) p.ignore_eos = *s.ignore_eos;
  if (s.stop.size() > static_cast<size_t>(kMaxStopStrings)) {
    return Bad(names, Field::kStop,
               absl::StrCat("at most ", kMaxStopStrings, " stop strings, got ", s.stop.size()));
  }
  for (size_t i = 0; i < s.stop.size(); ++i) {
    if (s.stop[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(NameOf(names, Field::kStop), "[", i, "]: must not be empty"));
    }
  }
  p.stop = s.stop;
  RETURN_IF_ERROR(CheckIds(names, Field::kStopTokenIds, s.stop_token_ids, vocab));
  p.stop_token_ids.assign(s.stop_token_ids.begin(), s.stop_token_ids.end());
  if (s.include_stop_str_in_output) p.include_stop_str_in_output = *s.include_stop_str_in_output;
  if (s.logprobs) {
    ASSIGN_OR_RETURN(p.logprobs, Int32(names, Field::kLogprobs, *s.logprobs));
  }
  if (s.skip_special_tokens.has_value() && !*s.skip_special_tokens) {
    // The engine's incremental decoder always skips special tokens today.
    return Bad(names, Field::kSkipSpecialTokens, "false is not supported yet");
  }
  RETURN_IF_ERROR(RenameFieldError(p.Validate(), names));
  return p;
}

}  // namespace

absl::Status RenameFieldError(const absl::Status& status, const FieldNames& names) {
  absl::string_view message = status.message();
  if (!absl::IsInvalidArgument(status) || !absl::ConsumePrefix(&message, "sampling params: ")) {
    return status;
  }
  // SamplingParams::Validate's words for each field it checks.
  static constexpr std::pair<absl::string_view, Field> kInternal[] = {
      {"n", Field::kN},
      {"temperature", Field::kTemperature},
      {"top_k", Field::kTopK},
      {"top_p", Field::kTopP},
      {"min_p", Field::kMinP},
      {"repetition_penalty", Field::kRepetitionPenalty},
      {"presence_penalty", Field::kPresencePenalty},
      {"frequency_penalty", Field::kFrequencyPenalty},
      {"max_tokens", Field::kMaxTokens},
      {"min_tokens", Field::kMinTokens},
      {"stop_token_ids", Field::kStopTokenIds},
      {"stop", Field::kStop},
      {"logprobs", Field::kLogprobs},
  };
  for (const auto& [internal, field] : kInternal) {
    absl::string_view rest = message;
    if (absl::ConsumePrefix(&rest, internal) && absl::ConsumePrefix(&rest, " ")) {
      return absl::InvalidArgumentError(absl::StrCat(NameOf(names, field), ": ", rest));
    }
  }
  return status;
}

absl::StatusOr<std::vector<int32_t>> BuildPrompt(const PromptSpec& prompt, const ServedModel& model,
                                                 const FieldNames& names) {
  const engine::tokenizer::Tokenizer& tok = *model.tokenizer;
  if (prompt.text.has_value()) {
    if (prompt.text->empty()) return Bad(names, Field::kText, "must not be empty");
    return tok.Encode(*prompt.text, {.add_special = true, .parse_special = true});
  }
  if (prompt.token_ids.has_value()) {
    if (prompt.token_ids->empty()) return Bad(names, Field::kTokenIds, "must not be empty");
    RETURN_IF_ERROR(CheckIds(names, Field::kTokenIds, *prompt.token_ids, tok.vocab_size()));
    return std::vector<int32_t>(prompt.token_ids->begin(), prompt.token_ids->end());
  }
  if (prompt.chat.has_value()) {
    if (prompt.chat->empty()) return Bad(names, Field::kChat, "must not be empty");
    if (!model.chat_template.has_value()) {
      return Bad(
          names, Field::kChat,
          absl::StrCat("the model's chat template is not supported: ", model.chat_template_error));
    }
    std::vector<engine::tokenizer::ChatMessage> messages;
    messages.reserve(prompt.chat->size() + 1);
    if (!model.default_system.empty() &&
        std::none_of(prompt.chat->begin(), prompt.chat->end(),
                     [](const ChatMessageSpec& m) { return m.role == "system"; })) {
      messages.push_back({"system", model.default_system});
    }
    for (size_t i = 0; i < prompt.chat->size(); ++i) {
      const ChatMessageSpec& m = (*prompt.chat)[i];
      if (absl::Status st = engine::tokenizer::CheckChatRole(m.role); !st.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(NameOf(names, Field::kChat), "[", i, "].role: ", st.message()));
      }
      messages.push_back({m.role, m.content});
    }
    auto chat = model.chat_template->Render(messages, prompt.add_generation_prompt);
    if (!chat.ok()) return Bad(names, Field::kChat, std::string(chat.status().message()));
    engine::tokenizer::EncodeOptions options{.add_special = true, .parse_special = true};
    if (!model.chat_parse_special) options.literal_spans = chat->content_spans;
    return tok.Encode(chat->text, options);
  }
  return Bad(names, Field::kInput, "no input given");
}

absl::Status ApplyConstraint(const constraint::ConstraintSpec& spec, const ServedModel& model,
                             sampler::SamplingParams* params, const std::string& field) {
  if (model.constraint_compiler == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".", std::string(constraint::KindName(spec.kind)),
                     ": structured output is not enabled on this server"));
  }
  auto compiled = model.constraint_compiler->Compile(spec);
  if (!compiled.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".", compiled.status().message()));
  }
  params->constraint = *std::move(compiled);
  if (absl::Status st = params->Validate(); !st.ok()) {
    return absl::InvalidArgumentError(st.message());
  }
  return absl::OkStatus();
}

SamplingSpec WithDefaults(const SamplingSpec& request, const SamplingSpec& defaults) {
  SamplingSpec s = request;
  auto fill = [](auto& field, const auto& fallback) {
    if (!field.has_value()) field = fallback;
  };
  fill(s.n, defaults.n);
  fill(s.temperature, defaults.temperature);
  fill(s.top_p, defaults.top_p);
  fill(s.top_k, defaults.top_k);
  fill(s.min_p, defaults.min_p);
  fill(s.repetition_penalty, defaults.repetition_penalty);
  fill(s.presence_penalty, defaults.presence_penalty);
  fill(s.frequency_penalty, defaults.frequency_penalty);
  fill(s.seed, defaults.seed);
  fill(s.max_tokens, defaults.max_tokens);
  fill(s.min_tokens, defaults.min_tokens);
  fill(s.ignore_eos, defaults.ignore_eos);
  fill(s.include_stop_str_in_output, defaults.include_stop_str_in_output);
  fill(s.logprobs, defaults.logprobs);
  fill(s.skip_special_tokens, defaults.skip_special_tokens);
  if (s.stop.empty()) s.stop = defaults.stop;
  if (s.stop_token_ids.empty()) s.stop_token_ids = defaults.stop_token_ids;
  return s;
}

absl::StatusOr<engine::Request> BuildEngineRequest(const GenerateSpec& spec,
                                                   const ServedModel& model,
                                                   const FieldNames& names) {
  engine::Request out;
  ASSIGN_OR_RETURN(out.params, ToSamplingParams(WithDefaults(spec.sampling, model.default_sampling),
                                                model.tokenizer->vocab_size(), names));
  if (spec.constraint.has_value()) {
    RETURN_IF_ERROR(ApplyConstraint(*spec.constraint, model, &out.params, spec.constraint_field));
  }
  ASSIGN_OR_RETURN(out.prompt_tokens, BuildPrompt(spec.prompt, model, names));
  if (out.prompt_tokens.empty()) return Bad(names, Field::kInput, "tokenizes to no tokens");
  out.priority = std::max(spec.priority, model.min_priority);
  return out;
}

}  // namespace hearth::server
