// What a `--model` value names: a GGUF file, or a model in Ollama's store ("llama3:8b"), and
// what the server takes from Ollama's extra layers.
//
//   --model /path/to/file.gguf   that file; served as its stem ("file")
//   --model smollm2:135m         manifests/registry.ollama.ai/library/smollm2/135m -> the GGUF
//                                blob (sha256-checked, see blob_verifier.h); served as
//                                "smollm2:135m", the name Ollama gives it
//
// An existing file always wins over a store name. From an Ollama model:
//   template layer  the chat template, when its Go template shows one of the families Hearth
//                   renders (chatml, llama3, llama2, mistral, gemma: the markers
//                   ChatTemplate::Detect recognises in Jinja appear the same way in Go); else the
//                   GGUF's own template, with a note saying so
//   system layer    the system message of chat requests that have none (as Ollama does)
//   params layer    defaults for the sampling fields a request leaves unset (temperature,
//                   top_p, top_k, min_p, repeat_penalty, presence/frequency penalty, seed,
//                   num_predict -> max_tokens, stop); a request's stop list replaces it
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/model.h"
#include "engine/model_store/ollama_store.h"
#include "engine/tokenizer/chat_template.h"
#include "hearth/v1/hearth.pb.h"

namespace hearth::server {

struct ModelSource {
  std::string gguf_path;
  std::string default_name;  // the served name unless configured: Ollama's name or file stem
  std::optional<engine::model_store::OllamaModel> ollama;
  std::vector<std::string> log_lines;  // verification, ignored layers, for the start-up log
};

// Resolves `model` (see above). `store_root` "" = OllamaStore::DefaultRoot(). InvalidArgument
// "not a regular file" for a FIFO, socket or device (never opened, so never blocks); NotFound
// when it is neither a file nor a model of the store (the message names both places looked
// at); otherwise the store's errors (ollama_store.h).
absl::StatusOr<ModelSource> ResolveModelSource(
    const std::string& model, engine::model_store::VerifyMode verify,
    const std::string& store_root = "",
    const std::string& verify_cache_path = engine::model_store::DefaultVerifyCachePath());

// What a served model adds to requests (request_builder.h's ServedModel fields).
struct ChatDefaults {
  std::optional<engine::tokenizer::ChatTemplate> chat_template;  // set: replaces the GGUF's
  std::string default_system;
  v1::SamplingParams default_sampling;
  std::vector<std::string> log_lines;
};

// The Ollama layers as request defaults (empty for a plain file). `bos` / `eos`: the token
// texts, as for ChatTemplate::Detect.
ChatDefaults ChatDefaultsFor(const ModelSource& source, const std::string& bos,
                             const std::string& eos);

// The file name without directories and ".gguf".
std::string FileStem(const std::string& path);

}  // namespace hearth::server
