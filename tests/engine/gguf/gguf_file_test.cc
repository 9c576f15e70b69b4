// GgufFile on the default model and on small hand-built images: header, metadata getters and
// their conversions, the tensor table.
#include "engine/gguf/gguf_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "tests/engine/gguf/gguf_test_image.h"

namespace hearth::engine {
namespace {

using testing::GgufImage;
using ::testing::HasSubstr;

class DefaultModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto file = GgufFile::Open(HEARTH_DEFAULT_MODEL);
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = std::move(file).value().release();
  }
  static void TearDownTestSuite() {
    delete file_;
    file_ = nullptr;
  }
  static GgufFile* file_;
};
GgufFile* DefaultModelTest::file_ = nullptr;

TEST_F(DefaultModelTest, Header) {
  EXPECT_EQ(file_->version(), 3u);
  EXPECT_EQ(file_->alignment(), 32u);
  EXPECT_EQ(file_->data_offset(), 1785664u);  // gguf-py: GGUFReader(...).data_offset
  EXPECT_EQ(file_->metadata().size(), 33u);   // the header kv_count
  EXPECT_EQ(file_->tensors().size(), 272u);
}

TEST_F(DefaultModelTest, UintKeys) {
  const struct {
    const char* key;
    uint64_t want;
  } kCases[] = {
      {"llama.block_count", 30},           {"llama.context_length", 8192},
      {"llama.embedding_length", 576},     {"llama.feed_forward_length", 1536},
      {"llama.attention.head_count", 9},   {"llama.attention.head_count_kv", 3},
      {"llama.vocab_size", 49152},         {"llama.rope.dimension_count", 64},
      {"tokenizer.ggml.bos_token_id", 1},  {"tokenizer.ggml.eos_token_id", 2},
      {"general.quantization_version", 2},
  };
  for (const auto& c : kCases) {
    auto v = file_->GetUint(c.key);
    ASSERT_TRUE(v.ok()) << c.key << ": " << v.status();
    EXPECT_EQ(*v, c.want) << c.key;
    auto i = file_->GetInt(c.key);
    ASSERT_TRUE(i.ok()) << c.key;
    EXPECT_EQ(*i, static_cast<int64_t>(c.want)) << c.key;
  }
}

TEST_F(DefaultModelTest, StringFloatBoolKeys) {
  EXPECT_EQ(*file_->GetString("general.architecture"), "llama");
  EXPECT_EQ(*file_->GetString("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(*file_->GetString("tokenizer.ggml.pre"), "smollm");
  EXPECT_THAT(*file_->GetString("tokenizer.chat_template"), HasSubstr("<|im_start|>"));
  EXPECT_EQ(*file_->GetFloat("llama.rope.freq_base"), 100000.0);
  EXPECT_EQ(*file_->GetFloat("llama.attention.layer_norm_rms_epsilon"), double(1e-5f));
  EXPECT_EQ(*file_->GetFloat("llama.block_count"), 30.0);  // integers convert to double
  EXPECT_EQ(*file_->GetBool("tokenizer.ggml.add_bos_token"), false);
}

TEST_F(DefaultModelTest, Arrays) {
  auto tokens = file_->GetStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_EQ(tokens->size(), 49152u);
  EXPECT_EQ((*tokens)[0], "<|endoftext|>");
  EXPECT_EQ((*tokens)[1], "<|im_start|>");
  auto types = file_->GetIntArray("tokenizer.ggml.token_type");
  ASSERT_TRUE(types.ok()) << types.status();
  EXPECT_EQ(types->size(), 49152u);
  auto merges = file_->GetArray("tokenizer.ggml.merges");
  ASSERT_TRUE(merges.ok());
  EXPECT_EQ((*merges)->element_type, GgufValueType::kString);
  EXPECT_EQ(*file_->GetStringArray("general.languages"), std::vector<std::string>{"en"});
}

TEST_F(DefaultModelTest, TensorTable) {
  const struct {
    const char* name;
    GgmlType type;
    std::vector<int64_t> shape;
    uint64_t offset;  // absolute, from gguf-py's ReaderTensor.data_offset
    uint64_t bytes;
  } kCases[] = {
      {"token_embd.weight", GgmlType::kQ8_0, {576, 49152}, 1785664, 30081024},
      {"blk.0.attn_norm.weight", GgmlType::kF32, {576}, 31866688, 2304},
      {"blk.0.ffn_down.weight", GgmlType::kQ4_1, {1536, 576}, 31868992, 552960},
      {"blk.0.attn_k.weight", GgmlType::kQ4_1, {576, 192}, 33530176, 69120},
  };
  for (const auto& c : kCases) {
    const GgufTensor* t = file_->FindTensor(c.name);
    ASSERT_NE(t, nullptr) << c.name;
    EXPECT_EQ(t->type, c.type) << c.name;
    EXPECT_EQ(t->traits, &GetTypeTraits(c.type)) << c.name;
    EXPECT_EQ(t->shape, c.shape) << c.name;
    EXPECT_EQ(t->offset + file_->data_offset(), c.offset) << c.name;
    EXPECT_EQ(t->num_bytes, c.bytes) << c.name;
    EXPECT_EQ(t->data, file_->bytes() + c.offset) << c.name;
    EXPECT_EQ(t->cols(), c.shape[0]);
    EXPECT_EQ(t->rows() * t->row_bytes(), c.bytes);
  }
  EXPECT_EQ(file_->FindTensor("output.weight"), nullptr);  // tied embeddings
}

TEST_F(DefaultModelTest, MissingAndWrongType) {
  EXPECT_EQ(file_->GetUint("no.such.key").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file_->GetUint("no.such.key").status().message(), HasSubstr("no.such.key"));
  const auto wrong = file_->GetUint("general.architecture").status();
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.message(), HasSubstr("general.architecture"));
  EXPECT_FALSE(file_->GetString("llama.block_count").ok());
  EXPECT_FALSE(file_->GetBool("llama.block_count").ok());
  EXPECT_FALSE(file_->GetArray("llama.block_count").ok());
  EXPECT_FALSE(file_->GetIntArray("tokenizer.ggml.tokens").ok());
}

TEST(GgufFileOpenTest, MissingFileIsNotFoundNamingThePath) {
  auto file = GgufFile::Open("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(), HasSubstr("/nonexistent/dir/model.gguf"));
}

}  // namespace
}  // namespace hearth::engine
