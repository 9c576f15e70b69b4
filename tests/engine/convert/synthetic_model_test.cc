// Synthetic models (engine/convert/synthetic_model.h): Hearth loads a small one and generates
// from it in every weight type; the random blocks decode to the promised statistics; the file
// is deterministic (seed, thread count); MoE layout and metadata; the tokenizer round-trips
// text and the chat template is recognised; bad specs are refused. gguf-py reading the files
// is tests/server/test_synth_model_cli.py.
#include "engine/convert/synthetic_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/convert/random_blocks.h"
#include "engine/engine.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model.h"
#include "engine/tokenizer/chat_template.h"

namespace hearth::engine::convert {
namespace {

using T = GgmlType;

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

std::string Write(const SyntheticModelSpec& spec, const std::string& name, int threads = 2) {
  const std::string path = TempPath(name);
  auto stats = WriteSyntheticModel(spec, path, threads);
  EXPECT_TRUE(stats.ok()) << stats.status();
  return path;
}

TEST(SyntheticModelTest, HearthLoadsAndGeneratesInEveryType) {
  for (T type : {T::kQ4_K, T::kQ5_K, T::kQ6_K, T::kQ8_0, T::kQ4_0, T::kQ4_1, T::kF16, T::kF32}) {
    SyntheticModelSpec spec = *SyntheticPreset("tiny");
    spec.type = type;
    const std::string path = Write(spec, "gen");
    auto model = LoadedModel::Open(path);
    std::filesystem::remove(path);
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_EQ((*model)->config().num_layers, 2);
    EXPECT_EQ((*model)->config().vocab_size, 512);
    EngineConfig config;
    config.kv_cache.bytes = 8 << 20;
    config.kv_cache.swap_space_bytes = 0;
    auto engine = Engine::Create(**model, config);
    ASSERT_TRUE(engine.ok()) << engine.status();
    Request r;
    r.prompt_tokens = (*engine)->tokenizer().Encode("the synthetic model", {});
    r.params.temperature = 0;
    r.params.max_tokens = 12;
    r.params.ignore_eos = true;
    r.params.logprobs = 0;
    auto results = (*engine)->Generate({r});
    ASSERT_TRUE(results.ok()) << results.status();
    const SampleResult& s = (*results)[0][0];
    ASSERT_TRUE(s.status.ok()) << s.status;
    ASSERT_EQ(s.token_ids.size(), 12u) << GetTypeTraits(type).name;
    for (const auto& t : s.logprobs) {
      ASSERT_TRUE(std::isfinite(t.logprob)) << GetTypeTraits(type).name;
      ASSERT_LE(t.logprob, 0.0f);
    }
  }
}

TEST(SyntheticModelTest, RandomBlocksDecodeToTheRequestedSpread) {
  const float sigma = 0.0625f;  // 1 / sqrt(256)
  for (T type :
       {T::kQ4_K, T::kQ5_K, T::kQ6_K, T::kQ8_0, T::kQ4_0, T::kQ4_1, T::kF16, T::kBF16, T::kF32}) {
    const TypeTraits& traits = GetTypeTraits(type);
    const int64_t n = 1 << 18;
    std::vector<uint8_t> blocks(traits.RowBytes(n));
    ASSERT_TRUE(FillRandomBlocks(type, sigma, 42, 0, n / traits.block_size, blocks.data()).ok());
    std::vector<float> x(n);
    traits.dequantize(blocks.data(), x.data(), n);
    double sum = 0, sum2 = 0;
    for (float v : x) {
      ASSERT_TRUE(std::isfinite(v));
      sum += v;
      sum2 += double{v} * v;
    }
    const double mean = sum / n, std = std::sqrt(sum2 / n - mean * mean);
    EXPECT_LT(std::fabs(mean), 0.1 * sigma) << traits.name;
    EXPECT_NEAR(std, sigma, 0.05 * sigma) << traits.name;
  }
}

TEST(SyntheticModelTest, ChunksAndThreadsDoNotChangeTheBytes) {
  // A block range filled in pieces equals the same range filled at once.
  std::vector<uint8_t> whole(144 * 100), parts(144 * 100);
  ASSERT_TRUE(FillRandomBlocks(T::kQ4_K, 0.1f, 7, 0, 100, whole.data()).ok());
  ASSERT_TRUE(FillRandomBlocks(T::kQ4_K, 0.1f, 7, 0, 37, parts.data()).ok());
  ASSERT_TRUE(FillRandomBlocks(T::kQ4_K, 0.1f, 7, 37, 63, parts.data() + 144 * 37).ok());
  EXPECT_EQ(whole, parts);
  std::vector<float> f1(5000), f2(5000);
  ASSERT_TRUE(FillRandomBlocks(T::kF32, 0.1f, 7, 0, 5000, f1.data()).ok());
  ASSERT_TRUE(FillRandomBlocks(T::kF32, 0.1f, 7, 0, 4097, f2.data()).ok());
  ASSERT_TRUE(FillRandomBlocks(T::kF32, 0.1f, 7, 4097, 903, f2.data() + 4097).ok());
  EXPECT_EQ(f1, f2);

  SyntheticModelSpec spec = *SyntheticPreset("tiny");
  const std::string a = Write(spec, "t1", 1), b = Write(spec, "t3", 3);
  EXPECT_EQ(ReadAll(a), ReadAll(b));
  spec.seed = 2;
  const std::string c = Write(spec, "seed2", 2);
  EXPECT_NE(ReadAll(a), ReadAll(c));
  for (const auto& p : {a, b, c}) std::filesystem::remove(p);
}

TEST(SyntheticModelTest, MoeLayoutAndMetadata) {
  SyntheticModelSpec spec = *SyntheticPreset("tiny");
  spec.experts = 4;
  spec.experts_used = 2;
  const std::string path = Write(spec, "moe");
  auto file = GgufFile::Open(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(*(*file)->GetUint("llama.expert_count"), 4u);
  EXPECT_EQ(*(*file)->GetUint("llama.expert_used_count"), 2u);
  const struct {
    const char* name;
    T type;
    std::vector<int64_t> shape;
  } want[] = {
      {"blk.1.ffn_gate_inp.weight", T::kF32, {256, 4}},
      {"blk.1.ffn_gate_exps.weight", T::kQ4_K, {256, 512, 4}},
      {"blk.1.ffn_up_exps.weight", T::kQ4_K, {256, 512, 4}},
      {"blk.1.ffn_down_exps.weight", T::kQ4_K, {512, 256, 4}},
      {"output.weight", T::kQ6_K, {256, 512}},
      {"blk.0.attn_norm.weight", T::kF32, {256}},
  };
  for (const auto& w : want) {
    const GgufTensor* t = (*file)->FindTensor(w.name);
    ASSERT_NE(t, nullptr) << w.name;
    EXPECT_EQ(t->type, w.type) << w.name;
    EXPECT_EQ(t->shape, w.shape) << w.name;
  }
  EXPECT_EQ((*file)->FindTensor("blk.0.ffn_up.weight"), nullptr);
  // 2 layers x (attention 4 x 256 x 256 / 2-ish + 3 experts x 4 x 256 x 512 + router) + embeddings.
  const int64_t attn = 256 * 256 * 2 + 256 * 128 * 2;
  const int64_t ffn = 3 * 4 * 256 * 512 + 256 * 4;
  EXPECT_EQ(spec.ParameterCount(), 2 * (attn + ffn + 2 * 256) + 2 * 256 * 512 + 256);
}

TEST(SyntheticModelTest, PresetsMatchTheRealModelsShapes) {
  const SyntheticModelSpec l = *SyntheticPreset("llama3-8b");
  EXPECT_EQ(l.ParameterCount(), 8030261248);  // Meta-Llama-3-8B's parameter count
  const SyntheticModelSpec m = *SyntheticPreset("mixtral-8x7b");
  EXPECT_EQ(m.ParameterCount(), 46702792704);  // Mixtral-8x7B's
  EXPECT_TRUE(absl::IsInvalidArgument(SyntheticPreset("gpt5").status()));
}

TEST(SyntheticModelTest, TokenizerRoundTripsAndChatTemplateIsLlama3) {
  const std::string path = Write(*SyntheticPreset("tiny"), "tok");
  auto model = LoadedModel::Open(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(model.ok()) << model.status();
  auto tok = tokenizer::Tokenizer::FromGguf((*model)->file());
  ASSERT_TRUE(tok.ok()) << tok.status();
  for (const std::string text :
       {"the other one is there", "héllo wörld ✓ 😀", "a\nb\tc  d", "<|eot_id|> is special"}) {
    const std::vector<int32_t> ids = (*tok)->Encode(text, {.add_special = false});
    EXPECT_EQ((*tok)->Decode(ids, {.skip_special = false}), text);
  }
  // Merges apply: " the" is one token, not four bytes.
  EXPECT_EQ((*tok)->Encode(" the", {.add_special = false}).size(), 1u);
  auto chat = tokenizer::ChatTemplate::Detect((*tok)->chat_template(), "<|begin_of_text|>",
                                              "<|end_of_text|>");
  ASSERT_TRUE(chat.ok()) << chat.status();
  const std::vector<tokenizer::ChatMessage> messages = {{"user", "hi"}};
  auto prompt = chat->Apply(messages, /*add_generation_prompt=*/true);
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(*prompt,
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(SyntheticModelTest, BadSpecsAreRefused) {
  const struct {
    void (*edit)(SyntheticModelSpec&);
    const char* message;
  } cases[] = {
      {[](SyntheticModelSpec& s) { s.heads = 3; }, "heads (3) must divide dim"},
      {[](SyntheticModelSpec& s) { s.kv_heads = 3; }, "kv_heads (3) must divide heads"},
      {[](SyntheticModelSpec& s) { s.layers = 0; }, "layers"},
      {[](SyntheticModelSpec& s) { s.vocab = 100; }, "vocab must be >="},
      {[](SyntheticModelSpec& s) { s.experts = 4; }, "experts_used"},
      {[](SyntheticModelSpec& s) { s.type = T::kQ2_K; }, "no random generator"},
      {[](SyntheticModelSpec& s) {
         s.dim = 250;
         s.heads = 5;
         s.kv_heads = 5;
       },
       "multiples of 32"},
  };
  for (const auto& c : cases) {
    SyntheticModelSpec spec = *SyntheticPreset("tiny");
    c.edit(spec);
    const absl::Status st = spec.Validate();
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << c.message;
    EXPECT_NE(std::string(st.message()).find(c.message), std::string::npos) << st;
    EXPECT_FALSE(WriteSyntheticModel(spec, TempPath("bad"), 1).ok());
  }
}

}  // namespace
}  // namespace hearth::engine::convert
