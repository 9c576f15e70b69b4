// The tensor-type rules of `hearth quantize` (engine/convert/quantize_plan.h) as a table over
// a small model built in memory, and QuantizeModel's output (types, metadata, copies, thread
// invariance, errors).
#include "engine/convert/quantize_plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/convert/model_quantizer.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/quant/quantize.h"

namespace hearth::engine::convert {
namespace {

using T = GgmlType;

struct Spec {
  std::string name;
  T type;
  std::vector<int64_t> shape;
};

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          (name + "." + std::to_string(::getpid()) + ".gguf"))
      .string();
}

// Writes a GGUF with the given tensors (values: a smooth deterministic pattern) and opens it;
// the file is unlinked (the mapping stays valid) unless `keep`.
std::unique_ptr<GgufFile> MakeModel(const std::vector<Spec>& specs, const std::string& name,
                                    bool keep = false) {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetUint32("general.file_type", 0);
  w.SetString("general.name", "plan-test");
  for (const Spec& s : specs) EXPECT_TRUE(w.AddTensor(s.name, s.type, s.shape).ok()) << s.name;
  const std::string path = TempPath(name);
  EXPECT_TRUE(w.Begin(path).ok());
  for (const Spec& s : specs) {
    int64_t n = 1;
    for (int64_t d : s.shape) n *= d;
    std::vector<float> x(n);
    for (int64_t i = 0; i < n; ++i) x[i] = std::sin(0.1f * static_cast<float>(i % 977)) * 0.05f;
    std::vector<uint8_t> q(GetTypeTraits(s.type).RowBytes(s.shape[0]) * (n / s.shape[0]));
    EXPECT_TRUE(QuantizeRows(s.type, x.data(), n / s.shape[0], s.shape[0], q.data()).ok());
    EXPECT_TRUE(w.Write(q.data(), q.size()).ok());
  }
  EXPECT_TRUE(w.Finish().ok());
  auto file = GgufFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  if (!keep) std::filesystem::remove(path);
  return file.ok() ? *std::move(file) : nullptr;
}

const std::vector<Spec> kUntied = {
    {"token_embd.weight", T::kF32, {512, 64}},
    {"blk.0.attn_norm.weight", T::kF32, {512}},
    {"blk.0.attn_q.weight", T::kF16, {512, 512}},
    {"blk.0.attn_k.weight", T::kBF16, {576, 64}},  // 576: not a multiple of 256
    {"blk.0.attn_q.bias", T::kF16, {512}},
    {"blk.0.ffn_gate_inp.weight", T::kF32, {512, 8}},
    {"blk.0.ffn_down_exps.weight", T::kF32, {256, 512, 8}},  // 3-D MoE experts
    {"blk.0.ffn_up.weight", T::kQ8_0, {544, 32}},            // quantized source, 544 % 256 != 0
    {"output.weight", T::kF32, {512, 64}},
};

QuantizeOptions Opts(T type, bool pure = false) {
  QuantizeOptions o;
  o.type = type;
  o.pure = pure;
  return o;
}

std::map<std::string, std::pair<T, std::string>> Plan(const GgufFile& file,
                                                      const QuantizeOptions& options) {
  auto plan = PlanQuantization(file, options);
  EXPECT_TRUE(plan.ok()) << plan.status();
  std::map<std::string, std::pair<T, std::string>> out;
  for (const TensorPlan& p : *plan) out[p.source->name] = {p.type, p.reason};
  return out;
}

TEST(QuantizePlanTest, RulesPerTarget) {
  auto file = MakeModel(kUntied, "untied");
  ASSERT_NE(file, nullptr);
  // name -> expected type for targets q4_k, q6_k, q8_0, q4_0, f16.
  const std::map<std::string, std::vector<T>> want = {
      {"token_embd.weight", {T::kQ4_K, T::kQ6_K, T::kQ8_0, T::kQ4_0, T::kF16}},
      {"blk.0.attn_norm.weight", {T::kF32, T::kF32, T::kF32, T::kF32, T::kF32}},
      {"blk.0.attn_q.weight", {T::kQ4_K, T::kQ6_K, T::kQ8_0, T::kQ4_0, T::kF16}},
      {"blk.0.attn_k.weight", {T::kQ4_1, T::kQ8_0, T::kQ8_0, T::kQ4_0, T::kF16}},
      {"blk.0.attn_q.bias", {T::kF32, T::kF32, T::kF32, T::kF32, T::kF32}},
      {"blk.0.ffn_gate_inp.weight", {T::kF32, T::kF32, T::kF32, T::kF32, T::kF32}},
      {"blk.0.ffn_down_exps.weight", {T::kQ4_K, T::kQ6_K, T::kQ8_0, T::kQ4_0, T::kF16}},
      {"blk.0.ffn_up.weight", {T::kQ4_1, T::kQ8_0, T::kQ8_0, T::kQ4_0, T::kF16}},
      {"output.weight", {T::kQ6_K, T::kQ6_K, T::kQ8_0, T::kQ6_K, T::kF16}},
  };
  const T targets[] = {T::kQ4_K, T::kQ6_K, T::kQ8_0, T::kQ4_0, T::kF16};
  for (int i = 0; i < 5; ++i) {
    const auto plan = Plan(*file, Opts(targets[i]));
    for (const auto& [name, types] : want) {
      EXPECT_EQ(plan.at(name).first, types[i])
          << name << " for target " << GetTypeTraits(targets[i]).name << " ("
          << plan.at(name).second << ")";
    }
  }
  const auto plan = Plan(*file, Opts(T::kQ4_K));
  EXPECT_EQ(plan.at("blk.0.attn_k.weight").second,
            "fallback: rows of 576 are not a multiple of the Q4_K block size 256");
  EXPECT_EQ(plan.at("output.weight").second, "output rule");
  EXPECT_EQ(plan.at("blk.0.attn_norm.weight").second, "1-D");
  EXPECT_EQ(plan.at("blk.0.ffn_gate_inp.weight").second, "MoE router");
}

TEST(QuantizePlanTest, TiedEmbeddingsTakeTheOutputRule) {
  std::vector<Spec> tied(kUntied.begin(), kUntied.end() - 1);  // no output.weight
  auto file = MakeModel(tied, "tied");
  ASSERT_NE(file, nullptr);
  auto plan = Plan(*file, Opts(T::kQ4_K));
  EXPECT_EQ(plan.at("token_embd.weight").first, T::kQ6_K);
  EXPECT_EQ(plan.at("token_embd.weight").second, "output rule (tied embeddings)");
  // Rows K-quants cannot hold: Q8_0 (llama.cpp's rule for the output matrix).
  tied[0].shape = {576, 64};
  file = MakeModel(tied, "tied576");
  EXPECT_EQ(Plan(*file, Opts(T::kQ4_K)).at("token_embd.weight").first, T::kQ8_0);
}

TEST(QuantizePlanTest, PureAndOverrides) {
  auto file = MakeModel(kUntied, "overrides");
  ASSERT_NE(file, nullptr);
  auto plan = Plan(*file, Opts(T::kQ4_0, /*pure=*/true));
  EXPECT_EQ(plan.at("output.weight").first, T::kQ4_0);
  EXPECT_EQ(plan.at("blk.0.attn_norm.weight").first, T::kF32);  // 1-D stays F32 even so
  QuantizeOptions overrides = Opts(T::kQ4_0);
  overrides.output_type = T::kQ8_0;
  overrides.token_embedding_type = T::kQ6_K;
  plan = Plan(*file, overrides);
  EXPECT_EQ(plan.at("output.weight"), std::make_pair(T::kQ8_0, std::string("--output-type")));
  EXPECT_EQ(plan.at("token_embd.weight").first, T::kQ6_K);
}

TEST(QuantizePlanTest, TypeNamesAndFileTypes) {
  EXPECT_EQ(*ParseQuantType("Q4_K"), T::kQ4_K);
  EXPECT_EQ(*ParseQuantType("bf16"), T::kBF16);
  const auto bad = ParseQuantType("q4_k_m");
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_NE(std::string(bad.status().message()).find("q6_k"), std::string::npos);
  EXPECT_EQ(FileTypeFor(T::kQ4_K), 14u);
  EXPECT_EQ(FileTypeFor(T::kQ6_K), 18u);
  EXPECT_EQ(FileTypeFor(T::kQ8_0), 7u);
  EXPECT_EQ(FileTypeFor(T::kF32), 0u);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(QuantizeModelTest, OutputFollowsThePlanAndIsThreadInvariant) {
  auto file = MakeModel(kUntied, "model");
  ASSERT_NE(file, nullptr);
  auto plan = PlanQuantization(*file, Opts(T::kQ4_K));
  ASSERT_TRUE(plan.ok());
  std::string bytes[2];
  const int threads[2] = {1, 5};
  for (int i = 0; i < 2; ++i) {
    const std::string out = TempPath(absl::StrCat("out", i));
    auto stats = QuantizeModel(*file, *plan, T::kQ4_K, out, threads[i]);
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_EQ(stats->tensors_copied, 2);       // the F32 attn_norm and the F32 router
    EXPECT_EQ(stats->tensors_requantized, 1);  // ffn_up from Q8_0
    EXPECT_EQ(stats->tensors_by_type.at("Q4_K"), 3);
    bytes[i] = ReadAll(out);
    std::filesystem::remove(out);
  }
  EXPECT_EQ(bytes[0], bytes[1]);
  auto q = GgufFile::FromBytes(bytes[0]);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(*(*q)->GetUint("general.file_type"), 14u);
  EXPECT_EQ(*(*q)->GetUint("general.quantization_version"), 2u);
  EXPECT_EQ(*(*q)->GetString("general.name"), "plan-test");
  ASSERT_EQ((*q)->tensors().size(), kUntied.size());
  for (size_t i = 0; i < kUntied.size(); ++i) {
    const GgufTensor& t = (*q)->tensors()[i];
    EXPECT_EQ(t.name, kUntied[i].name);
    EXPECT_EQ(t.shape, kUntied[i].shape);
    EXPECT_EQ(t.type, (*plan)[i].type) << t.name;
    // Dequantized values follow the source's within the 4-bit error.
    const GgufTensor& s = file->tensors()[i];
    std::vector<float> a(s.num_elements), b(t.num_elements);
    s.traits->dequantize(s.data, a.data(), s.num_elements);
    t.traits->dequantize(t.data, b.data(), t.num_elements);
    double err = 0, ref = 0;
    for (size_t j = 0; j < a.size(); ++j) {
      err += (a[j] - b[j]) * (a[j] - b[j]);
      ref += a[j] * a[j];
    }
    EXPECT_LT(std::sqrt(err / ref), 0.1) << t.name;
  }
  // Copied tensors are byte for byte the source's.
  EXPECT_EQ(0, std::memcmp((*q)->tensors()[1].data, file->tensors()[1].data,
                           file->tensors()[1].num_bytes));
}

TEST(QuantizeModelTest, Errors) {
  auto file = MakeModel({{"a.weight", T::kF32, {256, 4}}}, "errors", /*keep=*/true);
  ASSERT_NE(file, nullptr);
  auto plan = PlanQuantization(*file, Opts(T::kQ4_K));
  ASSERT_TRUE(plan.ok());
  auto same = QuantizeModel(*file, *plan, T::kQ4_K, file->path(), 1);
  EXPECT_TRUE(absl::IsInvalidArgument(same.status()));
  EXPECT_NE(std::string(same.status().message()).find("is the input file"), std::string::npos);
  EXPECT_FALSE(QuantizeModel(*file, *plan, T::kQ4_K, "/nonexistent-dir/o.gguf", 1).ok());
  EXPECT_FALSE(PlanQuantization(*file, Opts(T::kQ2_K)).ok());
  std::filesystem::remove(file->path());
}

}  // namespace
}  // namespace hearth::engine::convert
