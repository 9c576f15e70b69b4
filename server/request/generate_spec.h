// The protocol-neutral form of a generation request: what the gRPC, OpenAI and Ollama front
// ends each parse their wire format into, before one validation path (build_request.h) turns it
// into an engine::Request.
//
//   gRPC GenerateRequest ─┐
//   OpenAI JSON body ─────┼─▶ GenerateSpec ──BuildEngineRequest(spec, model, names)──▶ Request
//   Ollama JSON body ─────┘
//
// Every sampling field is optional: unset means the engine's default (or the protocol's own
// default, which the front end fills in). Field names in errors come from a FieldNames table
// chosen by the front end, so a client reads the names it sent ("sampling.top_p" over gRPC,
// "top_p" over OpenAI, "options.top_p" over Ollama).
//
// Thread-safety: plain values.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/constraint/constraint_spec.h"

namespace hearth::server {

// The fields a protocol may name in an error. kInput is the request's input as a whole.
enum class Field {
  kModel,
  kInput,
  kText,
  kTokenIds,
  kChat,
  kN,
  kTemperature,
  kTopP,
  kTopK,
  kMinP,
  kRepetitionPenalty,
  kPresencePenalty,
  kFrequencyPenalty,
  kSeed,
  kMaxTokens,
  kMinTokens,
  kStop,
  kStopTokenIds,
  kLogprobs,
  kSkipSpecialTokens,
  kNumFields,
};

// The wire name of each Field, indexed by Field.
using FieldNames = std::array<const char*, static_cast<size_t>(Field::kNumFields)>;

inline const char* NameOf(const FieldNames& names, Field field) {
  return names[static_cast<size_t>(field)];
}

struct ChatMessageSpec {
  std::string role;
  std::string content;
};

// Exactly one input kind must be set (the front end guarantees at most one).
struct PromptSpec {
  std::optional<std::string> text;
  std::optional<std::vector<int64_t>> token_ids;  // int64: range-checked against the vocabulary
  std::optional<std::vector<ChatMessageSpec>> chat;
  bool add_generation_prompt = true;  // chat only
};

struct SamplingSpec {
  std::optional<int64_t> n;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
  std::optional<double> min_p;
  std::optional<double> repetition_penalty;
  std::optional<double> presence_penalty;
  std::optional<double> frequency_penalty;
  std::optional<uint64_t> seed;
  // Unset: the protocol's default (kDefaultMaxTokens unless the front end sets
  // max_tokens_unbounded).
  std::optional<int64_t> max_tokens;
  bool max_tokens_unbounded = false;  // Ollama's num_predict -1: until the context is full
  std::optional<int64_t> min_tokens;
  std::optional<bool> ignore_eos;
  std::vector<std::string> stop;
  std::vector<int64_t> stop_token_ids;
  std::optional<bool> include_stop_str_in_output;
  std::optional<int64_t> logprobs;  // top alternatives per token; set (even 0) = logprobs on
  std::optional<bool> skip_special_tokens;
};

struct GenerateSpec {
  std::string model;  // "" = the served model
  PromptSpec prompt;
  SamplingSpec sampling;
  int32_t priority = 0;
  // Structured output (gRPC `constraint`, OpenAI `response_format`, Ollama `format`), compiled
  // by BuildEngineRequest with the model's constraint compiler.
  std::optional<constraint::ConstraintSpec> constraint;
  std::string constraint_field = "constraint";  // the request field it came from, for errors
};

}  // namespace hearth::server
