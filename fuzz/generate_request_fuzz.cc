// Fuzz target: gRPC request validation. Arbitrary bytes are parsed as a GenerateRequest the way
// the server does (wire.h: malformed encodings and invalid UTF-8 become InvalidArgument), then
// validated and tokenized by BuildEngineRequest against the default model's tokenizer and chat
// template. Invariants for an accepted request: a non-empty prompt of in-vocabulary ids,
// sampling parameters that pass Validate, n in [1, 16], the priority clamped to the bound; its
// response conversion serializes.
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstdint>
#include <optional>
#include <string>

#include "engine/tokenizer/chat_template.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/fuzz_models.h"
#include "server/grpc/request_builder.h"
#include "server/grpc/wire.h"

using namespace hearth;

namespace {

const server::ServedModel& Model(bool parse_special) {
  static const server::ServedModel* models = [] {
    const engine::tokenizer::Tokenizer* tok = fuzz::DefaultModelTokenizer();
    if (tok == nullptr) tok = &fuzz::SyntheticGpt2Tokenizer();
    auto* m = new server::ServedModel[2];
    for (int i = 0; i < 2; ++i) {
      m[i].name = "smol";
      m[i].tokenizer = tok;
      auto chat = engine::tokenizer::ChatTemplate::Detect(tok->chat_template());
      if (chat.ok()) m[i].chat_template = *std::move(chat);
      m[i].max_model_len = 8192;
      m[i].min_priority = -10;
      m[i].chat_parse_special = i == 1;
    }
    return m;
  }();
  return models[parse_special ? 1 : 0];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (64 << 10)) return 0;
  grpc::Slice slice(data, size);
  grpc::ByteBuffer buffer(&slice, 1);
  v1::GenerateRequest request;
  if (!server::ParseRequest(buffer, &request).ok()) return 0;
  const server::ServedModel& model = Model(size % 2 == 1);
  auto built = server::BuildEngineRequest(request, model);
  if (!built.ok()) {
    fuzz::Check(!built.status().message().empty(), "errors name the problem");
    return 0;
  }
  const int32_t vocab = model.tokenizer->vocab_size();
  fuzz::Check(!built->prompt_tokens.empty(), "non-empty prompt");
  for (int32_t id : built->prompt_tokens) fuzz::Check(id >= 0 && id < vocab, "prompt id in vocab");
  for (int32_t id : built->params.stop_token_ids) {
    fuzz::Check(id >= 0 && id < vocab, "stop id in vocab");
  }
  fuzz::Check(built->params.Validate().ok(), "accepted params validate");
  fuzz::Check(built->params.n >= 1 && built->params.n <= server::kMaxParallelSamples, "n range");
  fuzz::Check(built->priority >= model.min_priority, "priority clamped");
  engine::RequestOutput out;
  out.token_ids.assign(
      built->prompt_tokens.begin(),
      built->prompt_tokens.begin() + std::min<size_t>(built->prompt_tokens.size(), 8));
  out.text = request.text();
  out.finish = sampler::FinishInfo{};
  v1::GenerateResponse response;
  server::ToGenerateResponse(out, request.request_id(), *model.tokenizer, &response);
  grpc::ByteBuffer serialized;
  fuzz::Check(server::SerializeResponse(response, &serialized).ok(), "response serializes");
  return 0;
}
