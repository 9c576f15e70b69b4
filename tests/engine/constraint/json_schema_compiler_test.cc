// JSON schema -> grammar: accepted / rejected documents per schema, and malformed or
// unsupported schemas with the JSON pointer of the problem.
#include "engine/constraint/json_schema_compiler.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/constraint/constraint_test_util.h"

namespace hearth::constraint {
namespace {

using testing::Accepts;

struct Case {
  std::string schema;
  std::vector<std::string> accept;
  std::vector<std::string> reject;
};

TEST(JsonSchemaCompilerTest, AcceptsValidDocumentsOnly) {
  const std::vector<Case> cases = {
      {R"({"type":"object","properties":{"side":{"enum":["buy","sell"]},"size":{"type":"number"},
          "reason":{"type":"string"}},"required":["side","size","reason"]})",
       {R"({"side":"buy","size":0.25,"reason":"momentum"})",
        "{\n  \"side\": \"sell\",\n  \"size\": -3e2,\n  \"reason\": \"a \\\"b\\\" \\u00e9\"\n}"},
       {R"({"side":"hold","size":1,"reason":""})", R"({"side":"buy","size":1})",
        R"({"size":1,"side":"buy","reason":""})", R"({"side":"buy","size":01,"reason":""})",
        R"({"side":"buy","size":1,"reason":"","x":1})"}},
      {R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"boolean"}}})",
       {"{}", R"({"a":1})", R"({"b":true})", R"({"a":-5,"b":false})"},
       {R"({"b":true,"a":1})", R"({"a":1.5})", R"({,"b":true})", R"({"a":1,})"}},
      {R"({"type":"array","items":{"type":"string","maxLength":2},"minItems":1,"maxItems":3})",
       {R"(["a"])", R"(["ab","","c"])", R"([ "x" , "y" ])"},
       {"[]", R"(["abc"])", R"(["a","b","c","d"])"}},
      {R"({"type":"string","minLength":2,"maxLength":3})",
       {R"("ab")", R"("日本語")", R"("a\nb")"},
       {R"("a")", R"("abcd")"}},
      {R"({"type":"string","pattern":"^[A-Z]{3}$"})", {R"("ABC")"}, {R"("AB")", R"("abc")"}},
      {R"({"type":"string","format":"date"})", {R"("2024-02-29")"}, {R"("2024-13-01")", R"("x")"}},
      {R"({"anyOf":[{"type":"integer"},{"type":"null"}]})", {"3", "null"}, {"\"3\"", "1.5"}},
      {R"({"type":["string","null"]})", {"null", R"("x")"}, {"1"}},
      {R"({"const":{"a":[1,2]}})", {R"({"a":[1,2]})"}, {R"({"a":[1]})"}},
      {R"({"type":"string","enum":["a",1,"b"]})", {R"("a")", R"("b")"}, {"1"}},
      {R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
          "next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},"required":["v","next"]}},
          "$ref":"#/$defs/node"})",
       {R"({"v":1,"next":{"v":2,"next":null}})"},
       {R"({"v":1,"next":{"v":2}})"}},
      {R"({"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}})",
       {R"({"a":1,"b":"x"})", R"({"zz":"y"})", R"({"ab":"y"})"},
       {R"({"b":1})", R"({"a":1,"a":"x"})"}},
      {R"({"type":"object"})", {"{}", R"({"k":[1,{"x":null}]})"}, {"[]"}},
      {"{}", {"1", R"("s")", "[true,false,null]", R"({"a":{}})"}, {"", "tru"}},
      {R"({"allOf":[{"type":"boolean"}],"title":"t"})", {"true"}, {"1"}},
      {R"({"type":"integer"})",
       {"0", "-12", "1234567890123456"},
       {"00", "1.0", "-", "12345678901234567"}},
  };
  for (const Case& c : cases) {
    auto g = JsonSchemaGrammar(c.schema);
    ASSERT_TRUE(g.ok()) << c.schema << ": " << g.status();
    for (const std::string& s : c.accept)
      EXPECT_TRUE(Accepts(*g, s)) << c.schema << "\nshould accept " << s;
    for (const std::string& s : c.reject)
      EXPECT_FALSE(Accepts(*g, s)) << c.schema << "\nshould reject " << s;
  }
}

TEST(JsonSchemaCompilerTest, JsonObjectIsAnyObject) {
  auto g = JsonObjectGrammar();
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(Accepts(*g, R"({"a":[1,2.5,{"b":null}],"c":"d"})"));
  EXPECT_TRUE(Accepts(*g, "{}"));
  EXPECT_FALSE(Accepts(*g, "[]"));
  EXPECT_FALSE(Accepts(*g, R"({"a":})"));
}

TEST(JsonSchemaCompilerTest, BadSchemasNameThePointer) {
  std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"type":"object",)", "json_schema: invalid JSON at byte 18"},
      {R"({"type":"number","minimum":0})", "json_schema: at /: unsupported keyword 'minimum'"},
      {R"({"properties":{"a":{"type":"strin"}}})",
       "json_schema: at /properties/a/type: unknown type 'strin'"},
      {R"({"properties":{"a":{"$ref":"#/$defs/missing"}}})",
       "json_schema: at /properties/a/$ref: reference '#/$defs/missing' does not resolve"},
      {R"({"$ref":"http://example.com/s.json"})", "only local references"},
      {R"({"type":"string","pattern":"(ab"})", "json_schema: at /pattern: offset 0: missing ')'"},
      {R"({"type":"array","minItems":3,"maxItems":2})",
       "json_schema: at /: minItems is greater than maxItems"},
      {R"({"type":"string","maxLength":-1})",
       "json_schema: at /maxLength: must be a non-negative integer"},
      {R"({"enum":[]})", "json_schema: at /enum: must be a non-empty array"},
      {R"({"type":"integer","enum":["a"]})", "no enum/const value has the schema's type"},
      {R"({"properties":{"a":false}})",
       "json_schema: at /properties/a: the schema `false` matches nothing"},
      {R"({"allOf":[{"type":"string"},{"maxLength":3}]})",
       "json_schema: at /allOf: only a single-schema allOf"},
      {R"({"anyOf":[{"type":"string"}],"type":"string"})",
       "'anyOf' together with 'type' is not supported"},
      {R"({"required":["x"],"properties":{},"additionalProperties":false})",
       "json_schema: at /required: 'x' is required but additional properties are not allowed"},
      {R"(["type"])", "json_schema: at /: a schema must be an object or a boolean"},
      {R"({"const":)" + std::string(100000, '[') + std::string(100000, ']') + "}",
       "json_schema: nested deeper than 128 levels"},
      {R"({"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})", "matches no string at all"},
  };
  std::string deep = "{}";
  for (int i = 0; i < 70; ++i) deep = R"({"items":)" + deep + "}";
  cases.emplace_back(deep, "nesting deeper than 64");
  for (const auto& [schema, want] : cases) {
    auto g = JsonSchemaGrammar(schema);
    ASSERT_FALSE(g.ok()) << schema;
    EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(g.status().message()), ::testing::HasSubstr(want)) << schema;
  }
}

}  // namespace
}  // namespace hearth::constraint
