// A protocol-neutral description of an output constraint: what the gRPC `constraint` oneof,
// OpenAI's `response_format` and Ollama's `format` all map onto before compilation.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hearth::constraint {

struct ConstraintSpec {
  enum class Kind {
    kJsonSchema,  // `text` is a JSON schema (the subset in docs/API.md).
    kJsonObject,  // Any JSON object; `text` is unused.
    kRegex,       // `text` is a regular expression the whole output must match (fullmatch).
    kChoice,      // The output is exactly one of `choices`.
    kGrammar,     // `text` is a GBNF grammar with a `root` rule (docs/API.md).
  };
  Kind kind = Kind::kJsonObject;
  std::string text;
  std::vector<std::string> choices;
};

// "json_schema", "json_object", "regex", "choice", "grammar": the field names of the API.
constexpr std::string_view KindName(ConstraintSpec::Kind kind) {
  switch (kind) {
    case ConstraintSpec::Kind::kJsonSchema:
      return "json_schema";
    case ConstraintSpec::Kind::kJsonObject:
      return "json_object";
    case ConstraintSpec::Kind::kRegex:
      return "regex";
    case ConstraintSpec::Kind::kChoice:
      return "choice";
    case ConstraintSpec::Kind::kGrammar:
      return "grammar";
  }
  return "grammar";
}

}  // namespace hearth::constraint
