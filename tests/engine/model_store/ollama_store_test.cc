// engine/model_store/: Ollama names as tables (parse, display, manifest path), manifest and
// params parsing with their errors, sha256 against the FIPS 180-2 test vectors, and the
// verification cache. The store end to end (fake store from the default model, `hearth
// serve --model smollm2:135m`, `hearth models`) is tests/server/test_ollama_store.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "engine/model_store/blob_verifier.h"
#include "engine/model_store/ollama_manifest.h"
#include "engine/model_store/ollama_name.h"

namespace hearth::engine::model_store {
namespace {

TEST(OllamaNameTest, ParsesAndPrintsAsOllama) {
  const struct {
    const char* text;
    const char* display;
    const char* manifest;
  } cases[] = {
      {"llama3", "llama3:latest", "registry.ollama.ai/library/llama3/latest"},
      {"llama3:8b", "llama3:8b", "registry.ollama.ai/library/llama3/8b"},
      {"mixtral:8x7b-instruct-v0.1-q4_K_M", "mixtral:8x7b-instruct-v0.1-q4_K_M",
       "registry.ollama.ai/library/mixtral/8x7b-instruct-v0.1-q4_K_M"},
      {"jmorgan/mistral:q4_0", "jmorgan/mistral:q4_0", "registry.ollama.ai/jmorgan/mistral/q4_0"},
      {"library/llama3:8b", "llama3:8b", "registry.ollama.ai/library/llama3/8b"},
      {"registry.ollama.ai/library/llama3:8b", "llama3:8b", "registry.ollama.ai/library/llama3/8b"},
      {"localhost:5000/team/llm:v2", "localhost:5000/team/llm:v2", "localhost:5000/team/llm/v2"},
      {"localhost:5000/team/llm", "localhost:5000/team/llm:latest",
       "localhost:5000/team/llm/latest"},
      {"https://hf.co/bartowski/Qwen2.5-7B-GGUF:Q4_K_M", "hf.co/bartowski/Qwen2.5-7B-GGUF:Q4_K_M",
       "hf.co/bartowski/Qwen2.5-7B-GGUF/Q4_K_M"},
      {"llama3:8b@sha256:abc", "llama3:8b", "registry.ollama.ai/library/llama3/8b"},
  };
  for (const auto& c : cases) {
    auto name = ParseOllamaName(c.text);
    ASSERT_TRUE(name.ok()) << c.text << ": " << name.status();
    EXPECT_EQ(name->DisplayName(), c.display) << c.text;
    EXPECT_EQ(name->ManifestRelativePath(), c.manifest) << c.text;
  }
}

TEST(OllamaNameTest, RejectsWhatCouldEscapeTheStore) {
  for (const char* bad :
       {"", "../x", "a/../b", "x:", "a/b/c/d", ".hidden", "x:../y", "a b", "x/.:y", "-x"}) {
    auto name = ParseOllamaName(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(name.status())) << bad;
  }
}

TEST(OllamaManifestTest, ParsesLayersAndFindsByMediaType) {
  const std::string hex(64, 'a');
  const std::string json = R"({"schemaVersion": 2,
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
               "digest": "sha256:)" +
                           std::string(64, 'c') + R"(", "size": 10},
    "layers": [
      {"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:)" +
                           hex +
                           R"(", "size": 4661211424},
      {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:)" +
                           std::string(64, 'b') + R"(", "size": 254}]})";
  auto m = ParseOllamaManifest(json);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_NE(m->Find(kMediaTypeModel), nullptr);
  EXPECT_EQ(m->Find(kMediaTypeModel)->sha256, hex);
  EXPECT_EQ(m->Find(kMediaTypeModel)->size, 4661211424u);
  EXPECT_EQ(m->Find(kMediaTypeParams), nullptr);
  EXPECT_EQ(m->TotalSize(), 4661211424u + 254 + 10);
}

TEST(OllamaManifestTest, ErrorsNameTheField) {
  const std::string hex(64, 'a');
  const struct {
    std::string json;
    const char* message;
  } cases[] = {
      {"{\"layers\": [", "malformed JSON at byte"},
      {"[]", "not a JSON object"},
      {"{}", "no \"layers\" array"},
      {R"({"layers": [{"digest": "sha256:)" + hex + R"(", "size": 1}]})",
       "layers[0].mediaType is missing"},
      {R"({"layers": [{"mediaType": "x", "size": 1}]})", "layers[0].digest is missing"},
      {R"({"layers": [{"mediaType": "x", "digest": "sha256:)" + hex + R"(", "size": -1}]})",
       "layers[0].size"},
      {R"({"layers": [{"mediaType": "x", "digest": "sha256:../../etc/passwd", "size": 1}]})",
       "is not sha256:<64 hex digits>"},
      {R"({"layers": [{"mediaType": "x", "digest": "sha256:)" + std::string(64, 'A') +
           R"(", "size": 1}]})",
       "is not sha256:<64 hex digits>"},
  };
  for (const auto& c : cases) {
    auto m = ParseOllamaManifest(c.json);
    ASSERT_FALSE(m.ok()) << c.json;
    EXPECT_TRUE(absl::IsInvalidArgument(m.status()));
    EXPECT_NE(std::string(m.status().message()).find(c.message), std::string::npos) << m.status();
  }
}

TEST(OllamaParamsTest, MapsOllamaOptions) {
  auto p = ParseOllamaParams(
      R"({"stop": ["<|eot_id|>", "<|start_header_id|>"], "temperature": 0.6, "top_p": 0.9,
          "top_k": 40, "repeat_penalty": 1.1, "num_predict": 128, "num_ctx": 8192,
          "seed": 42, "mirostat": 2, "num_gpu": 99})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->stop, (std::vector<std::string>{"<|eot_id|>", "<|start_header_id|>"}));
  EXPECT_FLOAT_EQ(*p->temperature, 0.6f);
  EXPECT_EQ(*p->top_k, 40);
  EXPECT_FLOAT_EQ(*p->repeat_penalty, 1.1f);
  EXPECT_EQ(*p->num_predict, 128);
  EXPECT_EQ(*p->seed, 42u);
  EXPECT_FALSE(p->min_p.has_value());
  EXPECT_EQ(p->ignored, (std::vector<std::string>{"mirostat", "num_gpu"}));
  // Ollama's "unset" spellings.
  p = ParseOllamaParams(R"({"num_predict": -1, "seed": -1, "stop": "###"})");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->num_predict.has_value());
  EXPECT_FALSE(p->seed.has_value());
  EXPECT_EQ(p->stop, std::vector<std::string>{"###"});
  EXPECT_FALSE(ParseOllamaParams(R"({"temperature": "hot"})").ok());
  EXPECT_FALSE(ParseOllamaParams(R"({"top_k": 1.5})").ok());
  EXPECT_FALSE(ParseOllamaParams(R"({"stop": [1]})").ok());
}

std::string WriteTemp(const std::string& name, const std::string& data) {
  const std::string path =
      (std::filesystem::temp_directory_path() / (name + "." + std::to_string(::getpid()))).string();
  std::ofstream(path, std::ios::binary) << data;
  return path;
}

TEST(BlobVerifierTest, Sha256MatchesTheStandardVectors) {
  const struct {
    std::string data;
    const char* hex;
  } cases[] = {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {std::string(1000000, 'a'),
       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
  };
  for (const auto& c : cases) {
    const std::string path = WriteTemp("sha", c.data);
    auto got = Sha256File(path);
    std::filesystem::remove(path);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, c.hex);
  }
  EXPECT_TRUE(absl::IsNotFound(Sha256File("/nonexistent/blob").status()));
}

TEST(BlobVerifierTest, OnceHashesThenTrustsTheCacheUntilTheFileChanges) {
  const std::string path = WriteTemp("blob", "abc");
  const std::string cache = WriteTemp("cache", "");
  std::filesystem::remove(cache);
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  auto r = VerifyBlob(path, abc, 3, VerifyMode::kOnce, cache);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->hashed);
  r = VerifyBlob(path, abc, 3, VerifyMode::kOnce, cache);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->hashed);  // from the cache
  EXPECT_TRUE(VerifyBlob(path, abc, 3, VerifyMode::kAlways, cache)->hashed);
  // Same size, new content and mtime: hashed again, and the mismatch found.
  std::ofstream(path, std::ios::binary) << "abd";
  std::filesystem::last_write_time(
      path, std::filesystem::last_write_time(path) + std::chrono::seconds(1));
  r = VerifyBlob(path, abc, 3, VerifyMode::kOnce, cache);
  EXPECT_TRUE(absl::IsDataLoss(r.status())) << r.status();
  EXPECT_NE(std::string(r.status().message()).find("has sha256"), std::string::npos);
  // Size checks happen in every mode.
  EXPECT_TRUE(absl::IsDataLoss(VerifyBlob(path, abc, 4, VerifyMode::kNever, cache).status()));
  EXPECT_TRUE(VerifyBlob(path, abc, 3, VerifyMode::kNever, cache).ok());
  EXPECT_TRUE(absl::IsNotFound(VerifyBlob(path + ".x", abc, 3, VerifyMode::kOnce, "").status()));
  // An unusable cache path is not an error.
  EXPECT_TRUE(absl::IsDataLoss(
      VerifyBlob(path, abc, 3, VerifyMode::kOnce, "/nonexistent/dir/c.json").status()));
  std::filesystem::remove(path);
  std::filesystem::remove(cache);
  EXPECT_TRUE(ParseVerifyMode("always").ok());
  EXPECT_FALSE(ParseVerifyMode("sometimes").ok());
}

}  // namespace
}  // namespace hearth::engine::model_store
