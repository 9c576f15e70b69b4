// ModelConfig::FromGguf and ModelWeights::Bind on tiny synthetic GGUF images.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/model/tiny_model.h"

namespace hearth::engine {
namespace {

using testing::BuildTinyModel;
using ::testing::HasSubstr;
using testing::TinyModelSpec;

absl::StatusOr<std::unique_ptr<LoadedModel>> Load(const TinyModelSpec& spec) {
  auto file = GgufFile::FromBytes(BuildTinyModel(spec));
  if (!file.ok()) return file.status();
  return LoadedModel::FromFile(*std::move(file));
}

TEST(ModelConfigTest, ParsesLlamaQwen2AndTiedOutput) {
  struct Case {
    std::string name;
    TinyModelSpec spec;
    ModelArch arch;
    RopeStyle rope;
    bool bias, tied;
  };
  TinyModelSpec llama;
  TinyModelSpec qwen;
  qwen.arch = "qwen2";
  TinyModelSpec tied;
  tied.tied = true;
  const std::vector<Case> cases = {
      {"llama", llama, ModelArch::kLlama, RopeStyle::kNormal, false, false},
      {"qwen2", qwen, ModelArch::kQwen2, RopeStyle::kNeox, true, false},
      {"tied", tied, ModelArch::kLlama, RopeStyle::kNormal, false, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto model = Load(c.spec);
    ASSERT_TRUE(model.ok()) << model.status();
    const ModelConfig& cfg = (*model)->config();
    EXPECT_EQ(cfg.arch, c.arch);
    EXPECT_EQ(cfg.rope_style, c.rope);
    EXPECT_EQ(cfg.has_qkv_bias, c.bias);
    EXPECT_EQ(cfg.tied_output, c.tied);
    EXPECT_EQ(cfg.num_layers, 2);
    EXPECT_EQ(cfg.dim, 64);
    EXPECT_EQ(cfg.num_heads, 4);
    EXPECT_EQ(cfg.num_kv_heads, 2);
    EXPECT_EQ(cfg.head_dim, 16);   // dim / heads: no key_length key
    EXPECT_EQ(cfg.rope_dims, 16);  // defaults to head_dim
    EXPECT_EQ(cfg.ffn_dim, 96);
    EXPECT_EQ(cfg.vocab_size, 101);  // from token_embd: no vocab_size key
    EXPECT_EQ(cfg.context_length, 512);
    EXPECT_FLOAT_EQ(cfg.rms_eps, 1e-5f);
    EXPECT_FLOAT_EQ(cfg.rope_base, 10000.0f);
    const ModelWeights& w = (*model)->weights();
    ASSERT_EQ(w.layers.size(), 2u);
    EXPECT_EQ(w.output == w.token_embd, c.tied);
    EXPECT_EQ(w.layers[1].bq.size(), c.bias ? 64u : 0u);
    EXPECT_EQ(w.layers[1].bk.size(), c.bias ? 32u : 0u);
  }
}

TEST(ModelConfigTest, ErrorsNameTheProblem) {
  struct Case {
    std::string name;
    TinyModelSpec spec;
    absl::StatusCode code;
    std::vector<std::string> message_parts;
  };
  std::vector<Case> cases;
  {
    TinyModelSpec s;
    s.arch = "gpt2";
    cases.push_back(
        {"unsupported arch", s, absl::StatusCode::kInvalidArgument, {"'gpt2'", "llama, qwen2"}});
  }
  {
    TinyModelSpec s;
    s.omit_keys = {"llama.block_count"};
    cases.push_back({"missing block_count",
                     s,
                     absl::StatusCode::kNotFound,
                     {"'llama.block_count'", "missing"}});
  }
  {
    TinyModelSpec s;
    s.arch = "qwen2";
    s.omit_keys = {"qwen2.attention.layer_norm_rms_epsilon"};
    cases.push_back({"missing eps",
                     s,
                     absl::StatusCode::kNotFound,
                     {"'qwen2.attention.layer_norm_rms_epsilon'"}});
  }
  {
    TinyModelSpec s;
    s.omit_keys = {"general.architecture"};
    cases.push_back({"missing arch", s, absl::StatusCode::kNotFound, {"general.architecture"}});
  }
  {
    TinyModelSpec s;
    s.heads = 4;
    s.kv_heads = 3;
    s.dim = 64;
    cases.push_back({"gqa not divisible",
                     s,
                     absl::StatusCode::kInvalidArgument,
                     {"not a multiple of head_count_kv 3"}});
  }
  {
    TinyModelSpec s;
    s.shape_override["blk.1.attn_k.weight"] = {64, 64};
    cases.push_back({"shape mismatch",
                     s,
                     absl::StatusCode::kInvalidArgument,
                     {"'blk.1.attn_k.weight'", "{64, 64}", "expected {64, 32}"}});
  }
  {
    TinyModelSpec s;
    s.shape_override["output_norm.weight"] = {63};
    cases.push_back({"vector mismatch",
                     s,
                     absl::StatusCode::kInvalidArgument,
                     {"'output_norm.weight'", "{63}", "expected {64}"}});
  }
  {
    TinyModelSpec s;
    s.omit_keys = {};
    s.arch = "qwen2";
    s.shape_override["blk.0.attn_v.bias"] = {31};
    cases.push_back({"bias mismatch",
                     s,
                     absl::StatusCode::kInvalidArgument,
                     {"'blk.0.attn_v.bias'", "expected {32}"}});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto model = Load(c.spec);
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().code(), c.code) << model.status();
    for (const std::string& part : c.message_parts) {
      EXPECT_THAT(std::string(model.status().message()), HasSubstr(part));
    }
  }
}

TEST(ModelConfigTest, MissingTensorIsNamed) {
  // An untied spec whose output.weight is renamed away cannot be told from a tied model, so
  // drop a layer tensor instead: the file claims 3 layers but holds 2.
  TinyModelSpec s;
  std::string bytes = BuildTinyModel(s);
  auto file = GgufFile::FromBytes(bytes);
  ASSERT_TRUE(file.ok()) << file.status();
  ModelConfig cfg = *ModelConfig::FromGguf(**file);
  cfg.num_layers = 3;
  auto weights = ModelWeights::Bind(**file, cfg);
  ASSERT_FALSE(weights.ok());
  EXPECT_EQ(weights.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr("'blk.2.attn_norm.weight'"));
}

TEST(ModelConfigTest, OpenReportsThePath) {
  auto model = LoadedModel::Open("/nonexistent/model.gguf");
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(std::string(model.status().message()), HasSubstr("/nonexistent/model.gguf"));
}

}  // namespace
}  // namespace hearth::engine
