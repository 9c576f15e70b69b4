// The protocol-neutral request path: field names in each protocol's words (BuildEngineRequest's
// errors and RenameFieldError), JSON field reads that name the field, the nesting bound, and
// API keys (constant-time digests, Bearer parsing, fail-closed empty file, reload).
#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/grpc/request_builder.h"
#include "server/http/json_fields.h"
#include "server/http/ollama_api.h"
#include "server/http/openai_request.h"
#include "server/request/build_request.h"
#include "server/security/api_keys.h"

namespace hearth::server {
namespace {

using ::testing::HasSubstr;

TEST(RequestPathTest, EngineFieldErrorsAreRenamedPerProtocol) {
  const absl::Status engine =
      absl::InvalidArgumentError("sampling params: top_p must be in (0, 1], got 2");
  struct Case {
    const FieldNames* names;
    const char* want;
  };
  for (const Case& c : {Case{&GrpcFieldNames(), "sampling.top_p: must be in (0, 1], got 2"},
                        Case{&http::openai::CompletionFieldNames(), "top_p: must be in"},
                        Case{&http::ollama::OllamaFieldNames(), "options.top_p: must be in"}}) {
    EXPECT_THAT(std::string(RenameFieldError(engine, *c.names).message()), HasSubstr(c.want));
  }
  // stop vs stop_token_ids: the longer name is not mistaken for the shorter.
  EXPECT_THAT(std::string(RenameFieldError(absl::InvalidArgumentError(
                                               "sampling params: stop_token_ids must be >= 0"),
                                           http::ollama::OllamaFieldNames())
                              .message()),
              HasSubstr("options.stop: must be >= 0"));
  const absl::Status other = absl::ResourceExhaustedError("queue full");
  EXPECT_EQ(RenameFieldError(other, GrpcFieldNames()), other);
}

TEST(RequestPathTest, JsonFieldsNameTheField) {
  auto body = http::ParseJsonObject(R"({"a": "x", "b": 2.0, "c": 2.5, "d": null, "e": [1, "z"]})");
  ASSERT_TRUE(body.ok());
  EXPECT_THAT(std::string(http::GetNumber(*body, "a", "opts.a").status().message()),
              HasSubstr("opts.a: must be a number, got a string"));
  EXPECT_EQ(http::GetInt(*body, "b", "b").value(), 2);
  EXPECT_FALSE(http::GetInt(*body, "c", "c").ok());
  EXPECT_FALSE(http::GetInt(*body, "d", "d").value().has_value());  // null = absent
  EXPECT_THAT(std::string(http::GetIntList(*body, "e", "e").status().message()),
              HasSubstr("e[1]: must be an integer"));
  EXPECT_THAT(std::string(http::ParseJsonObject(std::string(100, '[')).status().message()),
              HasSubstr("nested deeper"));
  EXPECT_TRUE(
      http::ParseJsonObject(
          R"({"s": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["})")
          .ok());
  EXPECT_FALSE(http::ParseJsonObject("[1]").ok());
}

TEST(RequestPathTest, OpenAiRequestMapping) {
  auto body = http::ParseJsonObject(
      R"({"prompt": ["a", [1, 2]], "n": 2, "max_tokens": 5, "stop": "x", "logprobs": 2,
          "stream": true, "stream_options": {"include_usage": true}, "top_k": 3})");
  ASSERT_TRUE(body.ok());
  auto r = http::openai::ParseCompletionRequest(*body);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->specs.size(), 2u);
  EXPECT_EQ(r->specs[0].prompt.text.value(), "a");
  EXPECT_EQ(r->specs[1].prompt.token_ids.value(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(r->n, 2);
  EXPECT_TRUE(r->stream && r->include_usage && r->logprobs);
  EXPECT_EQ(r->specs[1].sampling.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(r->specs[1].sampling.top_k.value(), 3);
  auto chat = http::ParseJsonObject(R"({"messages": [{"role": "user", "content": "hi"}]})");
  auto c = http::openai::ParseChatCompletionRequest(*chat);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->specs[0].sampling.max_tokens_unbounded);  // chat runs to a stop by default
  auto bad = http::ParseJsonObject(R"({"prompt": "a", "stream_options": {"include_usage": 1}})");
  EXPECT_THAT(std::string(http::openai::ParseCompletionRequest(*bad).status().message()),
              HasSubstr("stream_options"));
}

TEST(RequestPathTest, ApiKeys) {
  auto open = security::ApiKeys::Create({}, "");
  ASSERT_TRUE(open.ok());
  EXPECT_FALSE((*open)->required());
  EXPECT_TRUE((*open)->CheckAuthorization("").ok());

  const std::string path = ::testing::TempDir() + "/keys.txt";
  std::ofstream(path) << "# comment\n\n  file-key  \n";
  auto keys = security::ApiKeys::Create({"inline"}, path);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ((*keys)->size(), 2);
  EXPECT_TRUE((*keys)->CheckAuthorization("Bearer inline").ok());
  EXPECT_TRUE((*keys)->CheckAuthorization("bearer file-key").ok());
  for (const char* bad : {"", "inline", "Bearer inlin", "Bearer inline2", "Basic inline"}) {
    EXPECT_TRUE(absl::IsUnauthenticated((*keys)->CheckAuthorization(bad))) << bad;
  }
  std::ofstream(path) << "";
  ASSERT_TRUE((*keys)->Reload().ok());
  EXPECT_FALSE((*keys)->CheckAuthorization("Bearer file-key").ok());
  std::remove(path.c_str());
  EXPECT_FALSE((*keys)->Reload().ok());  // unreadable: the keys in force stay
  EXPECT_TRUE((*keys)->CheckAuthorization("Bearer inline").ok());
  EXPECT_FALSE(security::ApiKeys::Create({"has space"}, "").ok());
  // An empty key file fails closed: keys are required and none matches.
  std::ofstream(path) << "";
  auto empty = security::ApiKeys::Create({}, path);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE((*empty)->required());
  EXPECT_FALSE((*empty)->CheckAuthorization("Bearer x").ok());
}

}  // namespace
}  // namespace hearth::server
