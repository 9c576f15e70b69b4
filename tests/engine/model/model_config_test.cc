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

// Mixtral-style llama files in both expert layouts, and qwen2moe with its shared expert: the
// same experts bound either way, slices of the 3-D tensors pointing at the expert's bytes.
TEST(ModelConfigTest, BindsMixturesOfExpertsInBothLayouts) {
  TinyModelSpec stacked;
  stacked.experts = 4;
  stacked.experts_used = 2;
  TinyModelSpec split = stacked;
  split.stacked_experts = false;
  TinyModelSpec qwen = stacked;
  qwen.arch = "qwen2moe";
  for (const TinyModelSpec* spec : {&stacked, &split, &qwen}) {
    SCOPED_TRACE(spec->arch + (spec->stacked_experts ? " stacked" : " per-expert"));
    auto model = Load(*spec);
    ASSERT_TRUE(model.ok()) << model.status();
    const ModelConfig& cfg = (*model)->config();
    EXPECT_TRUE(cfg.is_moe());
    EXPECT_EQ(cfg.expert_count, 4);
    EXPECT_EQ(cfg.expert_used_count, 2);
    EXPECT_EQ(cfg.expert_ffn_dim, 96);
    const bool is_qwen = spec == &qwen;
    EXPECT_EQ(cfg.normalize_expert_weights, !is_qwen);
    EXPECT_EQ(cfg.shared_expert_ffn_dim, is_qwen ? 64 : 0);
    const GgufFile& file = (*model)->file();
    const ModelWeights& w = (*model)->weights();
    for (const LayerWeights& l : w.layers) {
      EXPECT_EQ(l.w_gate, nullptr);
      ASSERT_NE(l.router, nullptr);
      EXPECT_EQ(l.router->shape, (std::vector<int64_t>{64, 4}));
      ASSERT_EQ(l.experts.size(), 4u);
      for (int e = 0; e < 4; ++e) {
        EXPECT_EQ(l.experts[e].gate.shape, (std::vector<int64_t>{64, 96}));
        EXPECT_EQ(l.experts[e].up.shape, (std::vector<int64_t>{64, 96}));
        EXPECT_EQ(l.experts[e].down.shape, (std::vector<int64_t>{96, 64}));
        EXPECT_EQ(l.experts[e].down.num_bytes, 64u * 96 / 32 * 34);  // Q8_0
      }
      EXPECT_EQ(l.shared_expert.has_value(), is_qwen);
      EXPECT_EQ(l.shared_gate_inp != nullptr, is_qwen);
    }
    const LayerWeights& l1 = w.layers[1];
    if (spec == &split) {
      EXPECT_EQ(l1.experts[3].up.name, "blk.1.ffn_up.3.weight");
      EXPECT_EQ(l1.experts[3].up.data, file.FindTensor("blk.1.ffn_up.3.weight")->data);
    } else {
      const GgufTensor* up = file.FindTensor("blk.1.ffn_up_exps.weight");
      ASSERT_NE(up, nullptr);
      EXPECT_EQ(l1.experts[3].up.name, "blk.1.ffn_up_exps.weight[3]");
      EXPECT_EQ(l1.experts[3].up.data, up->data + 3 * up->num_bytes / 4);
      EXPECT_EQ(l1.experts[3].up.offset, up->offset + 3 * up->num_bytes / 4);
    }
    // Total vs active parameters: 2 of the 4 experts per layer are inactive.
    const ParameterCounts n = w.CountParameters();
    int64_t file_total = 0;
    for (const GgufTensor& t : file.tensors()) file_total += t.num_elements;
    EXPECT_EQ(n.total, file_total);
    EXPECT_EQ(n.total - n.active, 2 /*layers*/ * 2 /*experts*/ * 3 * 64 * 96);
  }
}

TEST(ModelConfigTest, DenseModelsHaveEqualTotalAndActiveParameters) {
  auto model = Load(TinyModelSpec());
  ASSERT_TRUE(model.ok()) << model.status();
  const ParameterCounts n = (*model)->weights().CountParameters();
  EXPECT_EQ(n.total, n.active);
  EXPECT_FALSE((*model)->config().is_moe());
  EXPECT_TRUE((*model)->weights().layers[0].experts.empty());
}

TEST(ModelConfigTest, MixtureErrorsNameTheProblem) {
  struct Case {
    std::string name;
    TinyModelSpec spec;
    absl::StatusCode code;
    std::vector<std::string> message_parts;
  };
  TinyModelSpec base;
  base.experts = 4;
  std::vector<Case> cases;
  {
    TinyModelSpec s = base;
    s.omit_keys = {"llama.expert_used_count"};
    cases.push_back({"count without used",
                     s,
                     absl::StatusCode::kInvalidArgument,
                     {"'llama.expert_count' without 'llama.expert_used_count'"}});
  }
  {
    TinyModelSpec s = base;
    s.experts_used = 5;
    cases.push_back(
        {"used > count",
         s,
         absl::StatusCode::kInvalidArgument,
         {"llama.expert_used_count = 5", "llama.expert_count = 4", "0 < used <= count"}});
  }
  {
    TinyModelSpec s = base;
    s.experts_used = 0;
    cases.push_back({"used 0", s, absl::StatusCode::kInvalidArgument, {"expert_used_count = 0"}});
  }
  {
    TinyModelSpec s;
    s.arch = "qwen2moe";
    s.experts = 4;
    s.omit_keys = {"qwen2moe.expert_count", "qwen2moe.expert_used_count"};
    cases.push_back(
        {"qwen2moe without experts", s, absl::StatusCode::kNotFound, {"'qwen2moe.expert_count'"}});
  }
  {
    TinyModelSpec s = base;
    s.shape_override["blk.1.ffn_gate_inp.weight"] = {64, 3};
    cases.push_back({"router of the wrong expert count",
                     s,
                     absl::StatusCode::kInvalidArgument,
                     {"'blk.1.ffn_gate_inp.weight'", "{64, 3}", "expected {64, 4}"}});
  }
  {
    TinyModelSpec s = base;
    s.shape_override["blk.0.ffn_down_exps.weight"] = {96, 64, 3};
    cases.push_back({"3-D experts of the wrong count",
                     s,
                     absl::StatusCode::kInvalidArgument,
                     {"'blk.0.ffn_down_exps.weight'", "{96, 64, 3}", "expected {96, 64, 4}"}});
  }
  {
    TinyModelSpec s = base;
    s.shape_override["blk.0.ffn_up_exps.weight"] = {64, 64, 4};
    cases.push_back({"3-D experts of the wrong width",
                     s,
                     absl::StatusCode::kInvalidArgument,
                     {"'blk.0.ffn_up_exps.weight'", "expected {64, 96, 4}"}});
  }
  {
    TinyModelSpec s = base;
    s.stacked_experts = false;
    s.omit_tensors = {"blk.1.ffn_down.3.weight"};
    cases.push_back({"missing per-expert tensor",
                     s,
                     absl::StatusCode::kNotFound,
                     {"'blk.1.ffn_down.3.weight' is missing"}});
  }
  {
    TinyModelSpec s = base;
    s.stacked_experts = false;
    s.shape_override["blk.0.ffn_gate.2.weight"] = {64, 64};
    cases.push_back({"per-expert tensor of the wrong shape",
                     s,
                     absl::StatusCode::kInvalidArgument,
                     {"'blk.0.ffn_gate.2.weight'", "{64, 64}", "expected {64, 96}"}});
  }
  {
    TinyModelSpec s = base;
    s.omit_tensors = {"blk.0.ffn_gate_exps.weight"};
    cases.push_back({"no experts at all",
                     s,
                     absl::StatusCode::kNotFound,
                     {"'blk.0.ffn_gate_exps.weight' is missing", "'blk.0.ffn_gate.0.weight'"}});
  }
  {
    TinyModelSpec s = base;
    s.omit_tensors = {"blk.1.ffn_gate_inp.weight"};
    cases.push_back(
        {"no router", s, absl::StatusCode::kNotFound, {"'blk.1.ffn_gate_inp.weight' is missing"}});
  }
  {
    TinyModelSpec s = base;
    s.arch = "qwen2moe";
    s.omit_tensors = {"blk.0.ffn_up_shexp.weight"};
    cases.push_back({"qwen2moe without its shared expert",
                     s,
                     absl::StatusCode::kNotFound,
                     {"'blk.0.ffn_up_shexp.weight' is missing"}});
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
