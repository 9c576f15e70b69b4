// Wire <-> engine conversions for Generate: a GenerateRequest becomes a GenerateSpec, validated by
// the protocol-neutral path (server/request/build_request.h) into an engine::Request (every
// error InvalidArgument or NotFound, naming the field and the reason), and an
// engine::RequestOutput becomes a GenerateResponse.
//
// Thread-safety: pure functions over immutable inputs; ServedModel is read-only once built.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/constraint/constraint_compiler.h"
#include "engine/constraint/constraint_spec.h"
#include "engine/request.h"
#include "engine/tokenizer/tokenizer.h"
#include "hearth/v1/hearth.pb.h"
#include "server/request/build_request.h"
#include "server/request/generate_spec.h"
#include "server/request/served_model.h"

namespace hearth::server {

// The gRPC names of the fields, for errors ("sampling.top_p", "token_ids.ids[3]").
const FieldNames& GrpcFieldNames();

// OK for "" or the served name; NotFound naming the unknown model otherwise.
absl::Status CheckModelName(const std::string& requested, const ServedModel& model);

// The request in protocol-neutral form (no validation beyond what the proto's shape implies).
GenerateSpec ToGenerateSpec(const v1::GenerateRequest& request);
SamplingSpec ToSamplingSpec(const v1::SamplingParams& sampling);

// Validates and tokenizes (build_request.h, with gRPC field names). Errors: InvalidArgument
// naming the field (see BuildEngineRequest). The model name is the resolver's (ModelResolver).
absl::StatusOr<engine::Request> BuildEngineRequest(const v1::GenerateRequest& request,
                                                   const ServedModel& model);

// The request's `constraint` oneof as a protocol-neutral spec; nullopt when unset.
// InvalidArgument for json_object = false or an empty choice list.
absl::StatusOr<std::optional<constraint::ConstraintSpec>> ConstraintSpecFromProto(
    const v1::GenerateRequest& request);

// One engine delta -> one response message. `tokenizer` gives top-logprob token texts.
void ToGenerateResponse(const engine::RequestOutput& out, const std::string& request_id,
                        const engine::tokenizer::Tokenizer& tokenizer,
                        v1::GenerateResponse* response);

}  // namespace hearth::server
