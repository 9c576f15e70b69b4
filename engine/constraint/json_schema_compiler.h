// JSON schema -> Grammar, for the subset real clients send (OpenAI structured outputs,
// Pydantic's model_json_schema(), vLLM / llama.cpp users):
//
//   type (a name or a list of names): object array string number integer boolean null
//   enum, const            literal alternatives (filtered by `type` when both are given)
//   properties, required   members in the order of `properties`; optional ones may be left out
//   additionalProperties   false, true or a schema. Default: true when there are no
//                          `properties` (an open object), false when there are (what OpenAI's
//                          strict mode and xgrammar do: no invented keys)
//   items, minItems, maxItems
//   minLength, maxLength, pattern (the output fully matches it; see regex_compiler.h), format
//                          date / time / date-time / uuid (other formats are annotations)
//   anyOf, oneOf           alternatives (oneOf branches must not overlap: not checked)
//   allOf                  with a single schema
//   $ref                   "#", "#/$defs/...", "#/definitions/..." or any local JSON pointer;
//                          recursion allowed
//   title, description, default, examples, $schema, $id, $comment, ...: ignored
//
// Any other keyword (minimum, maxProperties, not, if, prefixItems, ...) is rejected rather than
// silently ignored, so a constrained output always validates against the schema.
//
// Output shape: whitespace between tokens is "", " ", or a newline plus up to 20 spaces/tabs
// (so pretty-printed output is allowed); numbers have at most 16 integer and 15 fraction digits.
//
// Errors (InvalidArgument): "json_schema: invalid JSON at byte N: ..." or
// "json_schema: at /json/pointer: <problem>".
//
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "engine/constraint/grammar.h"

namespace hearth::constraint {

absl::StatusOr<Grammar> JsonSchemaGrammar(std::string_view schema);

// Any JSON object (OpenAI's response_format {"type": "json_object"}).
absl::StatusOr<Grammar> JsonObjectGrammar();

}  // namespace hearth::constraint
