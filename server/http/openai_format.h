// OpenAI-compatible responses: completion and chat completion objects, their SSE chunks
// (`data: {json}\n\n` ... `data: [DONE]\n\n`), logprobs in each endpoint's shape, usage, and the
// error shape {"error": {"message", "type", "param", "code"}}.
//
// Thread-safety: a formatter is used by one stream under its lock; the functions are pure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/http/generation_stream.h"
#include "server/http/http_message.h"
#include "server/http/json_fields.h"

namespace hearth::server::http::openai {

struct CompletionCall {
  bool chat = false;
  std::string id;                      // "cmpl-..." / "chatcmpl-..."
  int64_t created = 0;                 // unix seconds
  std::string model;                   // the served name
  int32_t n = 1;                       // samples per prompt: choice index = prompt * n + sample
  std::vector<int32_t> prompt_tokens;  // per prompt
  bool stream = false;
  bool include_usage = false;
  bool continuous_usage = false;
  bool logprobs = false;
  const engine::tokenizer::Tokenizer* tokenizer = nullptr;  // token texts for logprobs
};

std::unique_ptr<Formatter> MakeCompletionFormatter(CompletionCall call);

// "cmpl-" / "chatcmpl-" + 24 random hex digits.
std::string NewId(const char* prefix);

// The OpenAI error object for `status` (not OK): type from the status code, `param` from the
// field the message names ("temperature: must be ..." -> "temperature").
Json ErrorJson(const absl::Status& status);
// The error as a whole response, with ToHttpStatus's status.
HttpResponse ErrorResponse(const absl::Status& status);

}  // namespace hearth::server::http::openai
