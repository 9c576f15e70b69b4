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

// A hand-built image with one key of every value type.
std::string EveryTypeImage(uint32_t version) {
  GgufImage img;
  img.version = version;
  img.Kv("u8", testing::kU8, testing::Bytes().Put<uint8_t>(200))
      .Kv("i8", testing::kI8, testing::Bytes().Put<int8_t>(-100))
      .Kv("u16", testing::kU16, testing::Bytes().Put<uint16_t>(60000))
      .Kv("i16", testing::kI16, testing::Bytes().Put<int16_t>(-30000))
      .KvU32("u32", 4000000000u)
      .KvI32("i32", -2000000000)
      .KvU64("u64", ~uint64_t{0})
      .KvI64("i64", INT64_MIN)
      .KvF32("f32", 0.1f)
      .KvF64("f64", -2.5e300)
      .KvBool("yes", true)
      .KvString("s", std::string("a\0b", 3))
      .KvStringArray("strs", {"x", "", "zz"})
      .KvArray<int16_t>("i16s", testing::kI16, {-1, 2, -3})
      .KvArray<uint64_t>("u64s", testing::kU64, {1, ~uint64_t{0}})
      .KvArray<double>("f64s", testing::kF64, {0.5, -1.0});
  testing::Bytes nested;  // [[7, 8], []] of u32
  nested.Put<uint32_t>(testing::kArray).Put<uint64_t>(2);
  nested.Put<uint32_t>(testing::kU32).Put<uint64_t>(2).Put<uint32_t>(7).Put<uint32_t>(8);
  nested.Put<uint32_t>(testing::kU32).Put<uint64_t>(0);
  img.Kv("nested", testing::kArray, nested);
  return img.Build();
}

class HandBuiltTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(HandBuiltTest, EveryValueTypeAndConversion) {
  auto file_or = GgufFile::FromBytes(EveryTypeImage(GetParam()));
  ASSERT_TRUE(file_or.ok()) << file_or.status();
  const GgufFile& f = **file_or;
  EXPECT_EQ(f.version(), GetParam());
  EXPECT_TRUE(f.tensors().empty());
  ASSERT_EQ(f.metadata().size(), 17u);
  EXPECT_EQ(f.metadata()[0].first, "u8");  // file order kept
  EXPECT_EQ(f.Find("u16")->type, GgufValueType::kUint16);

  // Integers convert between widths when the value fits.
  EXPECT_EQ(*f.GetUint("u8"), 200u);
  EXPECT_EQ(*f.GetInt("u8"), 200);
  EXPECT_EQ(*f.GetInt("i8"), -100);
  EXPECT_EQ(*f.GetUint("u16"), 60000u);
  EXPECT_EQ(*f.GetInt("i16"), -30000);
  EXPECT_EQ(*f.GetUint("u32"), 4000000000u);
  EXPECT_EQ(*f.GetInt("i32"), -2000000000);
  EXPECT_EQ(*f.GetUint("u64"), ~uint64_t{0});
  EXPECT_EQ(*f.GetInt("i64"), INT64_MIN);
  EXPECT_EQ(f.GetUint("i8").status().code(), absl::StatusCode::kInvalidArgument);  // negative
  EXPECT_THAT(std::string(f.GetUint("i8").status().message()), HasSubstr("'i8'"));
  EXPECT_EQ(f.GetInt("u64").status().code(), absl::StatusCode::kInvalidArgument);  // > int64
  EXPECT_FALSE(f.GetInt("f32").ok());  // floats are not integers

  EXPECT_EQ(*f.GetFloat("f32"), static_cast<double>(0.1f));
  EXPECT_EQ(*f.GetFloat("f64"), -2.5e300);
  EXPECT_EQ(*f.GetFloat("i16"), -30000.0);
  EXPECT_FALSE(f.GetFloat("s").ok());
  EXPECT_EQ(*f.GetBool("yes"), true);
  EXPECT_EQ(*f.GetString("s"), std::string("a\0b", 3));  // embedded NUL survives

  EXPECT_EQ(*f.GetStringArray("strs"), (std::vector<std::string>{"x", "", "zz"}));
  EXPECT_EQ(*f.GetIntArray("i16s"), (std::vector<int64_t>{-1, 2, -3}));
  EXPECT_EQ(*f.GetFloatArray("i16s"), (std::vector<float>{-1, 2, -3}));
  EXPECT_EQ(*f.GetFloatArray("f64s"), (std::vector<float>{0.5f, -1.0f}));
  const auto too_big = f.GetIntArray("u64s").status();
  EXPECT_EQ(too_big.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(too_big.message()), HasSubstr("element 1"));
  EXPECT_FALSE(f.GetStringArray("i16s").ok());

  auto nested = f.GetArray("nested");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ((*nested)->element_type, GgufValueType::kArray);
  ASSERT_EQ((*nested)->elements.size(), 2u);
  const auto& first = std::get<GgufArray>((*nested)->elements[0].value);
  EXPECT_EQ(first.element_type, GgufValueType::kUint32);
  ASSERT_EQ(first.elements.size(), 2u);
  EXPECT_EQ(std::get<uint64_t>(first.elements[1].value), 8u);
  EXPECT_TRUE(std::get<GgufArray>((*nested)->elements[1].value).elements.empty());
}

INSTANTIATE_TEST_SUITE_P(Versions, HandBuiltTest, ::testing::Values(2u, 3u));

TEST(GgufAlignmentTest, GeneralAlignmentPlacesTheDataSection) {
  for (uint32_t alignment : {1u, 8u, 64u, 4096u}) {
    GgufImage img;
    img.alignment = alignment;
    img.KvU32("general.alignment", alignment);
    std::string a(8, '\0'), b(4, '\0');
    a[0] = 1, b[0] = 2;
    img.AddTensor({"a", {2}, 0, a});
    img.AddTensor({"b", {2}, 1, b});  // F16
    auto file = GgufFile::FromBytes(img.Build());
    ASSERT_TRUE(file.ok()) << alignment << ": " << file.status();
    EXPECT_EQ((*file)->alignment(), alignment);
    EXPECT_EQ((*file)->data_offset(), img.data_start);
    EXPECT_EQ((*file)->data_offset() % alignment, 0u);
    const GgufTensor* tb = (*file)->FindTensor("b");
    ASSERT_NE(tb, nullptr);
    EXPECT_EQ(tb->offset % alignment, 0u);
    EXPECT_EQ(tb->data[0], 2);
    EXPECT_EQ(tb->num_bytes, 4u);
    EXPECT_EQ(tb->traits->name, "F16");
  }
}

TEST(GgufFileOpenTest, MissingFileIsNotFoundNamingThePath) {
  auto file = GgufFile::Open("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(), HasSubstr("/nonexistent/dir/model.gguf"));
}

}  // namespace
}  // namespace hearth::engine
