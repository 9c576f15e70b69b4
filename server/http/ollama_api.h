// Ollama-compatible requests and responses for /api/generate and /api/chat: NDJSON streaming
// by default ("stream": false for one object), Ollama's field names (`options` mapped to the
// sampler: temperature, top_k, top_p, min_p, num_predict, seed, stop, repeat_penalty,
// presence_penalty, frequency_penalty; other options Ollama knows are accepted and unused), and
// the final line's statistics in nanoseconds. Errors are {"error": "..."} (a last NDJSON line
// when streaming). Unsupported inputs (images, suffix, template, tools, context, a non-empty
// format) are refused with 400 naming them.
//
// Defaults follow Ollama's: temperature 0.8, top_k 40, top_p 0.9, num_predict -1 (until a stop
// or the context's end). repeat_penalty defaults to off: Hearth's penalty covers the whole
// context, not Ollama's last 64 tokens, so 1.1 would not mean the same.
//
// Thread-safety: a formatter is used by one stream under its lock; the functions are pure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/http/generation_stream.h"
#include "server/http/http_message.h"
#include "server/http/json_fields.h"
#include "server/request/generate_spec.h"

namespace hearth::server::http::ollama {

struct OllamaRequest {
  bool chat = false;
  std::string model;  // as sent, ":latest" removed
  GenerateSpec spec;
  bool stream = true;
  bool load_only = false;  // no prompt / no messages: Ollama answers done_reason "load"
  // "keep_alive": 0 (or "0s"): unload the model once this request is done (a load-only
  // request then answers done_reason "unload"). Other values keep the configured keep_alive.
  bool unload_after = false;
};

const FieldNames& OllamaFieldNames();

absl::StatusOr<OllamaRequest> ParseGenerateRequest(const Json& body);
absl::StatusOr<OllamaRequest> ParseChatRequest(const Json& body);

// The model name a client sent, without Ollama's default ":latest" tag.
std::string StripLatest(std::string name);

struct OllamaCall {
  bool chat = false;
  bool stream = true;
  std::string model;  // echoed
};
std::unique_ptr<Formatter> MakeOllamaFormatter(OllamaCall call);

// The `{"model", "created_at", "done": true, "done_reason": "load"}` answer to a request
// without input (Ollama's way to load a model; "unload" with keep_alive 0).
HttpResponse LoadResponse(const OllamaRequest& request, const std::string& model);

// RFC 3339 UTC time with microseconds, as Ollama's created_at.
std::string NowRfc3339();

// {"error": message} with ToHttpStatus's status.
HttpResponse ErrorResponse(const absl::Status& status);

}  // namespace hearth::server::http::ollama
