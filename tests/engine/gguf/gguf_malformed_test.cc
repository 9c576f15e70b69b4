// Malformed GGUF images: each must yield a non-OK Status whose message carries the expected
// hint, and nothing may crash or read out of bounds. Built and run under AddressSanitizer (see
// CMakeLists.txt: the gguf and quant sources are compiled into this executable with ASan).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "tests/engine/gguf/gguf_test_image.h"

namespace hearth::engine {
namespace {

using testing::Bytes;
using testing::GgufImage;
using ::testing::HasSubstr;
namespace t = testing;

constexpr uint32_t kTypeF32 = 0, kTypeQ4_0 = 2;

// A small valid image: a few keys of several types and two tensors (Q4_0 [32 x 2], F32 [8]).
GgufImage ValidImage() {
  GgufImage img;
  img.KvString("general.architecture", "llama")
      .KvU32("a.u32", 5)
      .KvStringArray("tok", {"a", "bc", ""})
      .KvArray<float>("scores", t::kF32, {1.5f, -2.0f})
      .KvBool("flag", true);
  std::string q4(2 * 18, '\0');
  for (size_t i = 0; i < q4.size(); ++i) q4[i] = static_cast<char>(i * 7);
  q4[0] = 0x00, q4[1] = 0x3C;    // d = 1.0
  q4[18] = 0x00, q4[19] = 0x38;  // d = 0.5
  img.AddTensor({"w", {32, 2}, kTypeQ4_0, q4});
  img.AddTensor({"norm", {8}, kTypeF32, std::string(32, '\x01')});
  return img;
}

absl::Status Parse(const std::string& bytes) {
  auto file = GgufFile::FromBytes(bytes);
  if (!file.ok()) return file.status();
  // Touch every tensor byte through the dequantizers: ASan checks the bounds.
  std::vector<float> out;
  for (const GgufTensor& tensor : (*file)->tensors()) {
    if (!tensor.traits->supported()) continue;
    out.resize(static_cast<size_t>(tensor.num_elements));
    tensor.traits->dequantize(tensor.data, out.data(), tensor.num_elements);
  }
  return absl::OkStatus();
}

TEST(GgufMalformedTest, ValidImageParses) {
  GgufImage img = ValidImage();
  auto file = GgufFile::FromBytes(img.Build());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->tensors().size(), 2u);
  EXPECT_EQ((*file)->metadata().size(), 5u);
  EXPECT_EQ((*file)->data_offset(), img.data_start);
}

struct Case {
  const char* name;
  std::function<std::string()> build;
  absl::StatusCode code;
  const char* hint;
};

std::string WithTensor(GgufImage::Tensor tensor) {
  GgufImage img = ValidImage();
  img.AddTensor(std::move(tensor));
  return img.Build();
}

std::string WithKv(std::string_view key, uint32_t type, const Bytes& payload) {
  GgufImage img = ValidImage();
  img.Kv(key, type, payload);
  return img.Build();
}

std::string Nested(int depth) {
  Bytes inner;  // innermost: an empty array of u8
  inner.Put<uint32_t>(t::kU8).Put<uint64_t>(0);
  for (int i = 1; i < depth; ++i) {
    Bytes outer;
    outer.Put<uint32_t>(t::kArray).Put<uint64_t>(1).PutRaw(inner.str());
    inner = outer;
  }
  return WithKv("deep", t::kArray, inner);
}

const std::vector<Case>& Cases() {
  using C = absl::StatusCode;
  static const auto* cases = new std::vector<Case>{
      {"empty file", [] { return std::string(); }, C::kDataLoss, "truncated"},
      {"bad magic",
       [] {
         GgufImage img = ValidImage();
         img.magic = 0x46554746;
         return img.Build();
       },
       C::kInvalidArgument, "bad magic"},
      {"version 1",
       [] {
         GgufImage img = ValidImage();
         img.version = 1;
         return img.Build();
       },
       C::kInvalidArgument, "unsupported version 1 "},
      {"version 99",
       [] {
         GgufImage img = ValidImage();
         img.version = 99;
         return img.Build();
       },
       C::kInvalidArgument, "unsupported version 99"},
      {"big-endian version",
       [] {
         GgufImage img = ValidImage();
         img.version = 0x03000000;
         return img.Build();
       },
       C::kInvalidArgument, "big-endian"},
      {"huge tensor count",
       [] {
         GgufImage img = ValidImage();
         img.tensor_count_override = int64_t{1} << 60;
         return img.Build();
       },
       C::kDataLoss, "tensor count 1152921504606846976"},
      {"huge kv count",
       [] {
         GgufImage img = ValidImage();
         img.kv_count_override = int64_t{1} << 40;
         return img.Build();
       },
       C::kDataLoss, "key-value count"},
      {"kv count one too many",
       [] {
         GgufImage img = ValidImage();
         img.kv_count_override = 6;
         return img.Build();
       },
       C::kDataLoss, "string length"},  // reads the first tensor info's name as a key
      {"huge string value",
       [] { return WithKv("s", t::kString, Bytes().Put<uint64_t>(uint64_t{1} << 62)); },
       C::kDataLoss, "key 's' at offset"},
      {"string value past end",
       [] { return WithKv("s", t::kString, Bytes().Put<uint64_t>(1000000)); }, C::kDataLoss,
       "string length 1000000"},
      {"huge key length",
       [] {
         GgufImage img = ValidImage();
         img.KvRaw(Bytes().Put<uint64_t>(~uint64_t{0}));
         return img.Build();
       },
       C::kDataLoss, "key of metadata entry 5: string length 18446744073709551615"},
      {"huge array length",
       [] {
         return WithKv("arr", t::kArray,
                       Bytes().Put<uint32_t>(t::kU32).Put<uint64_t>(uint64_t{1} << 40));
       },
       C::kDataLoss, "array length 1099511627776 of UINT32"},
      {"huge string array length",
       [] {
         return WithKv("arr", t::kArray,
                       Bytes().Put<uint32_t>(t::kString).Put<uint64_t>(~uint64_t{0} / 8));
       },
       C::kDataLoss, "array length"},
      {"string inside array past end",
       [] {
         return WithKv("arr", t::kArray,
                       Bytes()
                           .Put<uint32_t>(t::kString)
                           .Put<uint64_t>(2)
                           .PutString("ok")
                           .Put<uint64_t>(1 << 20));
       },
       C::kDataLoss, "(array element 1 of 2)"},
      {"arrays nested too deep", [] { return Nested(40); }, C::kInvalidArgument,
       "nested deeper than 16"},
      {"unknown value type", [] { return WithKv("k", 13, Bytes().Put<uint32_t>(0)); },
       C::kInvalidArgument, "key 'k' at offset"},
      {"unknown value type number",
       [] { return WithKv("k", 0xFFFFFFFF, Bytes().Put<uint32_t>(0)); }, C::kInvalidArgument,
       "unknown value type 4294967295"},
      {"unknown array element type",
       [] { return WithKv("k", t::kArray, Bytes().Put<uint32_t>(77).Put<uint64_t>(0)); },
       C::kInvalidArgument, "unknown value type 77 for array elements"},
      {"duplicate key",
       [] {
         GgufImage img = ValidImage();
         img.KvU32("a.u32", 6);
         return img.Build();
       },
       C::kInvalidArgument, "duplicate key 'a.u32'"},
      {"alignment 3",
       [] {
         GgufImage img = ValidImage();
         img.KvU32("general.alignment", 3);
         return img.Build();
       },
       C::kInvalidArgument, "general.alignment' holds UINT32 3; it must be a power of two"},
      {"alignment 0",
       [] {
         GgufImage img = ValidImage();
         img.KvU32("general.alignment", 0);
         return img.Build();
       },
       C::kInvalidArgument, "power of two"},
      {"alignment as string",
       [] {
         GgufImage img = ValidImage();
         img.KvString("general.alignment", "32");
         return img.Build();
       },
       C::kInvalidArgument, "power of two"},
      {"n_dims 0",
       [] {
         return WithTensor({"x", {}, kTypeF32, "abcd"});
       },
       C::kInvalidArgument, "tensor 'x' at offset"},
      {"n_dims 0 hint",
       [] {
         return WithTensor({"x", {}, kTypeF32, "abcd"});
       },
       C::kInvalidArgument, "n_dims 0 is outside [1, 4]"},
      {"n_dims 9",
       [] {
         return WithTensor({"x", {1, 1, 1, 1, 1, 1, 1, 1, 1}, kTypeF32, "abcd"});
       },
       C::kInvalidArgument, "n_dims 9"},
      {"n_dims 5",
       [] {
         return WithTensor({"x", {1, 1, 1, 1, 1}, kTypeF32, "abcd"});
       },
       C::kInvalidArgument, "n_dims 5"},
      {"zero dimension",
       [] {
         return WithTensor({"x", {4, 0}, kTypeF32, ""});
       },
       C::kInvalidArgument, "dimension 1 is 0"},
      {"dimension above int64",
       [] {
         return WithTensor({"x", {uint64_t{1} << 63}, kTypeF32, ""});
       },
       C::kInvalidArgument, "dimension 0 is 9223372036854775808"},
      {"overflowing dimensions",
       [] {
         return WithTensor({"x", {uint64_t{1} << 40, uint64_t{1} << 30}, kTypeF32, ""});
       },
       C::kInvalidArgument, "element count overflows"},
      {"overflowing byte size",
       [] {
         return WithTensor({"x", {uint64_t{1} << 62}, kTypeF32, ""});
       },
       C::kInvalidArgument, "byte size overflows"},
      {"unknown tensor type",
       [] {
         return WithTensor({"x", {4}, 5, "abcd"});
       },
       C::kInvalidArgument, "unknown tensor type 5 at offset"},
      {"unknown tensor type 1000",
       [] {
         return WithTensor({"x", {4}, 1000, "abcd"});
       },
       C::kInvalidArgument, "unknown tensor type 1000"},
      {"row not a multiple of the block",
       [] {
         return WithTensor({"x", {16, 2}, kTypeQ4_0, std::string(18, '\0')});
       },
       C::kInvalidArgument, "row of 16 elements is not a multiple of the Q4_0 block size 32"},
      {"offset past end",
       [] {
         return WithTensor({"x", {8}, kTypeF32, "", int64_t{1} << 20});
       },
       C::kDataLoss,
       "tensor 'x' data [offset 1048896, 32 bytes] runs past end of file (size 1048896)"},
      {"offset near 2^64",
       [] {
         return WithTensor({"x", {8}, kTypeF32, "", -64 & ~int64_t{0} >> 1});
       },
       C::kDataLoss, "runs past end of file"},
      {"misaligned offset",
       [] {
         return WithTensor({"x", {8}, kTypeF32, std::string(32, 'x'), 104});
       },
       C::kInvalidArgument, "tensor 'x' data offset 104 is not aligned to 32"},
      {"truncated data",
       [] {
         std::string bytes = ValidImage().Build();
         bytes.resize(bytes.size() - 1);
         return bytes;
       },
       C::kDataLoss, "tensor 'norm' data [offset"},
      {"duplicate tensor name",
       [] {
         return WithTensor({"w", {8}, kTypeF32, std::string(32, 'x')});
       },
       C::kInvalidArgument, "duplicate tensor name 'w'"},
      {"overlapping tensors",
       [] {
         return WithTensor({"x", {8}, kTypeF32, std::string(32, 'x'), 32});
       },
       C::kInvalidArgument, "overlaps tensor 'w'"},
  };
  return *cases;
}

TEST(GgufMalformedTest, EachDefectIsReportedWithAHint) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const absl::Status status = Parse(c.build());
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.code(), c.code) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.hint));
    EXPECT_THAT(std::string(status.message()), ::testing::StartsWith("gguf: "));
  }
}

TEST(GgufMalformedTest, EveryTruncationIsDataLoss) {
  GgufImage img = ValidImage();
  const std::string full = img.Build();
  ASSERT_TRUE(Parse(full).ok());
  for (size_t n = 0; n < full.size(); ++n) {
    const absl::Status status = Parse(full.substr(0, n));
    ASSERT_FALSE(status.ok()) << "truncated at " << n;
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << n << ": " << status;
  }
}

TEST(GgufMalformedTest, RandomMutationsNeverCrash) {
  GgufImage img = ValidImage();
  const std::string full = img.Build();
  std::mt19937_64 rng(20240601);
  int ok = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::string bytes = full;
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng() % bytes.size();
      switch (rng() % 4) {
        case 0:
          bytes[pos] = static_cast<char>(rng());
          break;  // random byte
        case 1:
          bytes[pos] ^= static_cast<char>(1 << (rng() % 8));
          break;   // bit flip
        case 2: {  // an extreme little-endian u64 (lengths, counts, dims, offsets)
          const uint64_t v = (rng() % 2) ? ~uint64_t{0} >> (rng() % 64) : rng() % 64;
          for (int b = 0; b < 8 && pos + b < bytes.size(); ++b) {
            bytes[pos + b] = static_cast<char>(v >> (8 * b));
          }
          break;
        }
        default:
          bytes.resize(pos);
          break;  // truncate
      }
      if (bytes.empty()) break;
    }
    ok += Parse(bytes).ok();
  }
  // Most mutations hit the data section or bytes that are still valid; some must fail.
  EXPECT_LT(ok, 4000);
}

}  // namespace
}  // namespace hearth::engine
