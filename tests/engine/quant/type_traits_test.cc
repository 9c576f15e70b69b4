// The traits table: sizes as gguf-py's GGML_QUANT_SIZES lists them, lookups by raw number.
#include <gtest/gtest.h>

#include <set>

#include "engine/quant/ggml_type.h"

namespace hearth::engine {
namespace {

TEST(TypeTraitsTest, SizesMatchGgufPy) {
  // (number, name, block_size, type_size) from gguf-py 0.19 constants.GGML_QUANT_SIZES, except
  // Q8_1, which ggml stores as 36 bytes (two fp16 fields); gguf-py's 40 is stale.
  const struct {
    uint32_t raw;
    const char* name;
    int64_t block_size, type_size;
    bool supported;
  } kCases[] = {
      {0, "F32", 1, 4, true},          {1, "F16", 1, 2, true},
      {2, "Q4_0", 32, 18, true},       {3, "Q4_1", 32, 20, true},
      {6, "Q5_0", 32, 22, true},       {7, "Q5_1", 32, 24, true},
      {8, "Q8_0", 32, 34, true},       {9, "Q8_1", 32, 36, true},
      {10, "Q2_K", 256, 84, true},     {11, "Q3_K", 256, 110, true},
      {12, "Q4_K", 256, 144, true},    {13, "Q5_K", 256, 176, true},
      {14, "Q6_K", 256, 210, true},    {15, "Q8_K", 256, 292, true},
      {16, "IQ2_XXS", 256, 66, false}, {17, "IQ2_XS", 256, 74, false},
      {18, "IQ3_XXS", 256, 98, false}, {19, "IQ1_S", 256, 50, false},
      {20, "IQ4_NL", 32, 18, false},   {21, "IQ3_S", 256, 110, false},
      {22, "IQ2_S", 256, 82, false},   {23, "IQ4_XS", 256, 136, false},
      {24, "I8", 1, 1, false},         {25, "I16", 1, 2, false},
      {26, "I32", 1, 4, false},        {27, "I64", 1, 8, false},
      {28, "F64", 1, 8, false},        {29, "IQ1_M", 256, 56, false},
      {30, "BF16", 1, 2, true},        {34, "TQ1_0", 256, 54, false},
      {35, "TQ2_0", 256, 66, false},   {39, "MXFP4", 32, 17, false},
  };
  for (const auto& c : kCases) {
    const TypeTraits* t = FindTypeTraits(c.raw);
    ASSERT_NE(t, nullptr) << c.name;
    EXPECT_EQ(static_cast<uint32_t>(t->type), c.raw);
    EXPECT_EQ(t->name, c.name);
    EXPECT_EQ(t->block_size, c.block_size) << c.name;
    EXPECT_EQ(t->type_size, c.type_size) << c.name;
    EXPECT_EQ(t->supported(), c.supported) << c.name;
  }
  EXPECT_EQ(AllTypeTraits().size(), std::size(kCases));
}

TEST(TypeTraitsTest, UnknownNumbersAreNull) {
  for (uint32_t raw : {4u, 5u, 31u, 32u, 33u, 36u, 40u, 64u, 1000u, 0xFFFFFFFFu}) {
    EXPECT_EQ(FindTypeTraits(raw), nullptr) << raw;
  }
}

TEST(TypeTraitsTest, GetTypeTraitsAndRowBytes) {
  EXPECT_EQ(GetTypeTraits(GgmlType::kQ4_K).RowBytes(4096), 16 * 144);
  EXPECT_EQ(GetTypeTraits(GgmlType::kF16).RowBytes(10), 20);
  EXPECT_EQ(GetTypeTraits(GgmlType::kQ8_0).RowBytes(576), 18 * 34);
  std::set<std::string_view> names;
  for (const TypeTraits& t : AllTypeTraits()) EXPECT_TRUE(names.insert(t.name).second) << t.name;
}

}  // namespace
}  // namespace hearth::engine
