// GgufWriter: files it writes read back through GgufFile (every value type, nested arrays,
// alignment, tensor data), its layout checked against the format byte by byte, and its errors.
// gguf-py reading the writer's output is test_gguf_writer_py.py.
#include "engine/gguf/gguf_writer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "engine/gguf/gguf_file.h"

namespace hearth::engine {
namespace {

using VT = GgufValueType;

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          (name + "." + std::to_string(::getpid()) + ".gguf"))
      .string();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `w` with the given tensor bytes, reads it back.
std::unique_ptr<GgufFile> WriteAndOpen(GgufWriter& w, const std::vector<std::string>& data,
                                       const std::string& name) {
  const std::string path = TempPath(name);
  EXPECT_TRUE(w.Begin(path).ok());
  for (const std::string& d : data) EXPECT_TRUE(w.Write(d.data(), d.size()).ok());
  const absl::Status st = w.Finish();
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  auto file = GgufFile::FromBytes(ReadAll(path));
  std::filesystem::remove(path);
  EXPECT_TRUE(file.ok()) << file.status();
  return file.ok() ? *std::move(file) : nullptr;
}

TEST(GgufWriterTest, EveryValueTypeRoundTrips) {
  GgufWriter w;
  w.Set("u8", MakeGgufUint(VT::kUint8, 255));
  w.Set("i8", MakeGgufInt(VT::kInt8, -128));
  w.Set("u16", MakeGgufUint(VT::kUint16, 65535));
  w.Set("i16", MakeGgufInt(VT::kInt16, -32768));
  w.Set("u32", MakeGgufUint(VT::kUint32, 4000000000u));
  w.Set("i32", MakeGgufInt(VT::kInt32, -2000000000));
  w.Set("u64", MakeGgufUint(VT::kUint64, ~uint64_t{0}));
  w.Set("i64", MakeGgufInt(VT::kInt64, std::numeric_limits<int64_t>::min()));
  w.SetFloat32("f32", 0.1f);
  w.Set("f64", MakeGgufFloat64(0.1));
  w.SetBool("bool", true);
  w.SetString("str", "héllo\n\"world\"");
  w.Set("strs", MakeGgufStringArray({"a", "", "ccc"}));
  w.Set("floats", MakeGgufFloat32Array({1.5f, -2.25f}));
  w.Set("ints", MakeGgufInt32Array({-1, 7}));
  w.Set("empty", MakeGgufArray(VT::kUint8, {}));
  w.Set("nested", MakeGgufArray(VT::kArray, {MakeGgufInt32Array({1, 2}), MakeGgufInt32Array({3})}));
  auto f = WriteAndOpen(w, {}, "values");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->metadata().size(), w.metadata().size());
  for (size_t i = 0; i < w.metadata().size(); ++i) {
    EXPECT_EQ(f->metadata()[i].first, w.metadata()[i].first);
    EXPECT_EQ(DescribeValue(f->metadata()[i].second), DescribeValue(w.metadata()[i].second));
  }
  EXPECT_EQ(*f->GetUint("u64"), ~uint64_t{0});
  EXPECT_EQ(*f->GetInt("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(*f->GetInt("i8"), -128);
  EXPECT_EQ(*f->GetFloat("f32"), double{0.1f});
  EXPECT_EQ(*f->GetFloat("f64"), 0.1);
  EXPECT_EQ(*f->GetString("str"), "héllo\n\"world\"");
  EXPECT_EQ(*f->GetStringArray("strs"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(*f->GetFloatArray("floats"), (std::vector<float>{1.5f, -2.25f}));
  const GgufArray* nested = *f->GetArray("nested");
  ASSERT_EQ(nested->elements.size(), 2u);
  EXPECT_EQ(std::get<GgufArray>(nested->elements[1].value).elements.size(), 1u);
}

TEST(GgufWriterTest, TensorsAlignedAndDataIntact) {
  for (uint32_t alignment : {32u, 64u, 4096u}) {
    GgufWriter w;
    w.SetString("general.architecture", "llama");
    if (alignment != 32) w.SetUint32("general.alignment", alignment);
    ASSERT_TRUE(w.AddTensor("a", GgmlType::kF32, {3}).ok());
    ASSERT_TRUE(w.AddTensor("b", GgmlType::kQ8_0, {64, 2}).ok());
    ASSERT_TRUE(w.AddTensor("c", GgmlType::kF16, {5, 1, 2}).ok());
    std::vector<std::string> data;
    for (const auto& t : w.tensors()) {
      std::string d(t.num_bytes, '\0');
      for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<char>(i * 7 + t.name[0]);
      data.push_back(d);
    }
    EXPECT_EQ(w.tensors()[1].num_bytes, 4u * 34);
    auto f = WriteAndOpen(w, data, "tensors");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->alignment(), alignment);
    EXPECT_EQ(f->data_offset() % alignment, 0u);
    ASSERT_EQ(f->tensors().size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      const GgufTensor& t = f->tensors()[i];
      EXPECT_EQ(t.name, w.tensors()[i].name);
      EXPECT_EQ(t.shape, w.tensors()[i].shape);
      EXPECT_EQ(t.offset % alignment, 0u);
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(t.data), t.num_bytes), data[i]);
    }
    // Every tensor is padded, the last one too: the file ends on the alignment.
    EXPECT_EQ(f->size(), f->data_offset() + w.data_bytes());
    EXPECT_EQ(f->size() % alignment, 0u);
  }
}

TEST(GgufWriterTest, HeaderBytesFollowTheFormat) {
  GgufWriter w;
  w.Set("k", MakeGgufUint(VT::kUint16, 0x1234));
  ASSERT_TRUE(w.AddTensor("t", GgmlType::kF32, {2, 3}).ok());
  auto header = w.SerializeHeader();
  ASSERT_TRUE(header.ok());
  std::string want;
  auto put = [&](auto v) { want.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  want += "GGUF";
  put(uint32_t{3});
  put(uint64_t{1});  // tensors
  put(uint64_t{1});  // key-values
  put(uint64_t{1});
  want += "k";
  put(uint32_t{2});  // UINT16
  put(uint16_t{0x1234});
  put(uint64_t{1});
  want += "t";
  put(uint32_t{2});  // n_dims
  put(uint64_t{2});
  put(uint64_t{3});
  put(uint32_t{0});  // F32
  put(uint64_t{0});  // offset
  want.resize((want.size() + 31) / 32 * 32, '\0');
  EXPECT_EQ(*header, want);
}

TEST(GgufWriterTest, SetReplacesInPlaceAndCopyMetadataKeepsOrder) {
  GgufWriter a;
  a.SetString("general.architecture", "llama");
  a.SetUint32("general.file_type", 3);
  a.SetString("general.name", "x");
  auto f = WriteAndOpen(a, {}, "copy");
  ASSERT_NE(f, nullptr);
  GgufWriter b;
  b.CopyMetadata(*f);
  b.SetUint32("general.file_type", 15);
  ASSERT_EQ(b.metadata().size(), 3u);
  EXPECT_EQ(b.metadata()[1].first, "general.file_type");
  EXPECT_EQ(*ValueAsUint(b.metadata()[1].second), 15u);
  EXPECT_TRUE(b.Remove("general.name"));
  EXPECT_FALSE(b.Remove("general.name"));
  EXPECT_EQ(b.Find("general.name"), nullptr);
}

TEST(GgufWriterTest, BadTensorsAreRejected) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("x", GgmlType::kF32, {4}).ok());
  const struct {
    std::string name;
    GgmlType type;
    std::vector<int64_t> shape;
    std::string message;
  } cases[] = {
      {"x", GgmlType::kF32, {4}, "duplicate"},
      {"", GgmlType::kF32, {4}, "empty"},
      {std::string(64, 'n'), GgmlType::kF32, {4}, "longer than 63"},
      {"y", GgmlType::kQ4_K, {128}, "block size 256"},
      {"y", GgmlType::kF32, {}, "0 dimensions"},
      {"y", GgmlType::kF32, {1, 1, 1, 1, 1}, "5 dimensions"},
      {"y", GgmlType::kF32, {4, 0}, "dimension 0"},
      {"y", static_cast<GgmlType>(99), {4}, "unknown element type"},
  };
  for (const auto& c : cases) {
    const absl::Status st = w.AddTensor(c.name, c.type, c.shape);
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << c.message;
    EXPECT_NE(std::string(st.message()).find(c.message), std::string::npos) << st;
  }
}

TEST(GgufWriterTest, BadValuesNameTheKey) {
  const struct {
    GgufValue value;
    std::string message;
  } cases[] = {
      {MakeGgufUint(VT::kUint8, 256), "out of range"},
      {MakeGgufInt(VT::kInt16, 40000), "out of range"},
      {MakeGgufInt(VT::kUint32, -1), "out of range"},
      {GgufValue{VT::kString, uint64_t{1}}, "non-string"},
      {MakeGgufArray(VT::kInt32, {MakeGgufString("a")}), "element 0 is STRING"},
  };
  for (const auto& c : cases) {
    GgufWriter w;
    w.Set("the.key", c.value);
    auto header = w.SerializeHeader();
    ASSERT_FALSE(header.ok()) << c.message;
    EXPECT_NE(std::string(header.status().message()).find("'the.key'"), std::string::npos);
    EXPECT_NE(std::string(header.status().message()).find(c.message), std::string::npos)
        << header.status();
  }
  GgufWriter w;
  w.SetUint32("general.alignment", 48);
  EXPECT_FALSE(w.SerializeHeader().ok());
}

TEST(GgufWriterTest, WrongAmountOfDataFailsAndLeavesNoFile) {
  const std::string path = TempPath("short");
  {
    GgufWriter w;
    ASSERT_TRUE(w.AddTensor("a", GgmlType::kF32, {4}).ok());
    ASSERT_TRUE(w.Begin(path).ok());
    const float x[3] = {1, 2, 3};
    ASSERT_TRUE(w.Write(x, sizeof(x)).ok());
    const absl::Status st = w.Finish();
    EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st;
    EXPECT_NE(std::string(st.message()).find("12 of 16 bytes"), std::string::npos) << st;
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  {
    GgufWriter w;
    ASSERT_TRUE(w.AddTensor("a", GgmlType::kF32, {1}).ok());
    ASSERT_TRUE(w.Begin(path).ok());
    const float x[2] = {1, 2};
    EXPECT_TRUE(absl::IsInvalidArgument(w.Write(x, sizeof(x))));
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  {
    // Abandoned mid-way: the destructor removes the temporary.
    GgufWriter w;
    ASSERT_TRUE(w.AddTensor("a", GgmlType::kF32, {1}).ok());
    ASSERT_TRUE(w.Begin(path).ok());
    EXPECT_TRUE(std::filesystem::exists(path + ".tmp"));
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  GgufWriter w;
  EXPECT_FALSE(w.Begin("/nonexistent-dir/x.gguf").ok());
}

}  // namespace
}  // namespace hearth::engine
