// Batch invariance holds for a mixture of experts: on a tiny Mixtral-style model (8 experts,
// top-2, written byte by byte by tiny_model.h), 32 concurrent streams whose tokens are routed to
// different experts give the same tokens as each stream alone, and a seeded sampled stream is
// bitwise the same alone and under load.
#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "engine/engine.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model.h"
#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"
#include "tests/engine/model/tiny_model.h"

namespace hearth::engine {
namespace {

using testing::Greedy;

constexpr int kVocab = 300;  // tiny_model.h's tokenizer needs >= 259

const LoadedModel& MoeModel() {
  static const LoadedModel* model = [] {
    testing::TinyModelSpec spec;
    spec.layers = 3;
    spec.experts = 8;
    spec.experts_used = 2;
    spec.vocab = kVocab;
    spec.tokenizer = true;
    auto file = GgufFile::FromBytes(testing::BuildTinyModel(spec));
    if (!file.ok()) {
      ADD_FAILURE() << file.status();
      std::abort();
    }
    auto m = LoadedModel::FromFile(*std::move(file));
    if (!m.ok()) {
      ADD_FAILURE() << m.status();
      std::abort();
    }
    return m->release();
  }();
  return *model;
}

EngineConfig Config() {
  EngineConfig c;
  c.device.threads = 2;
  const ModelConfig& mc = MoeModel().config();
  c.kv_cache.bytes = 8192ll * 2 * mc.num_layers * mc.kv_dim() *
                     KvDtypeBytes(c.kv_cache.ResolvedDtype(c.device.cpu_precision));
  c.kv_cache.swap_space_bytes = 0;
  c.scheduler.max_model_len = 512;
  c.scheduler.max_num_seqs = 64;
  c.scheduler.max_num_batched_tokens = 256;
  return c;
}

std::vector<int32_t> Prompt(int32_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(3, kVocab - 1);  // past <unk>, <s>, </s>
  std::vector<int32_t> out(n);
  for (int32_t& t : out) t = dist(rng);
  return out;
}

// The top-2 experts layer 0's router picks for a token's normalized embedding, from the file's
// tensors: a proxy for its real route (which also sees attention), enough to show that the
// prompts' tokens take many different routes.
std::pair<int, int> FirstLayerRoute(int32_t token) {
  const LoadedModel& m = MoeModel();
  const ModelConfig& c = m.config();
  const GgufTensor& embd = *m.weights().token_embd;
  std::vector<float> x(c.dim);
  embd.traits->dequantize(embd.data + token * embd.row_bytes(), x.data(), c.dim);
  double ss = 0;
  for (float v : x) ss += double{v} * v;
  const double scale = 1.0 / std::sqrt(ss / c.dim + c.rms_eps);
  const GgufTensor& router = *m.weights().layers[0].router;
  const float* r = reinterpret_cast<const float*>(router.data);
  std::vector<double> logits(c.expert_count);
  for (int e = 0; e < c.expert_count; ++e) {
    for (int i = 0; i < c.dim; ++i) logits[e] += double{r[e * c.dim + i]} * x[i] * scale;
  }
  std::vector<int> order(c.expert_count);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  return {std::min(order[0], order[1]), std::max(order[0], order[1])};
}

TEST(MoeEngine, ConcurrentStreamsEqualEachStreamAlone) {
  ASSERT_TRUE(MoeModel().config().is_moe());
  std::vector<Request> requests;
  std::set<std::pair<int, int>> routes;
  for (int i = 0; i < 32; ++i) {
    std::vector<int32_t> prompt = Prompt(1 + 5 * i, 100 + i);  // 1 .. 156 tokens
    for (int32_t t : prompt) routes.insert(FirstLayerRoute(t));
    requests.push_back(Greedy(std::move(prompt), 8 + i % 5));
  }
  EXPECT_GE(routes.size(), 10u) << "the prompts should spread over many expert pairs";

  auto solo_engine = Engine::Create(MoeModel(), Config());
  ASSERT_TRUE(solo_engine.ok()) << solo_engine.status();
  std::vector<std::vector<int32_t>> alone;
  for (const Request& r : requests) {
    auto result = (*solo_engine)->Generate({r});
    ASSERT_TRUE(result.ok()) << result.status();
    alone.push_back((*result)[0][0].token_ids);
  }
  for (bool chunked : {true, false}) {
    SCOPED_TRACE(::testing::Message() << "chunked prefill " << chunked);
    EngineConfig config = Config();
    config.scheduler.enable_chunked_prefill = chunked;
    config.scheduler.max_num_batched_tokens = chunked ? 64 : 4096;
    auto engine = Engine::Create(MoeModel(), config);
    ASSERT_TRUE(engine.ok()) << engine.status();
    auto result = (*engine)->Generate(requests);
    ASSERT_TRUE(result.ok()) << result.status();
    std::set<int32_t> distinct;
    for (size_t i = 0; i < requests.size(); ++i) {
      const SampleResult& r = (*result)[i][0];
      ASSERT_TRUE(r.status.ok()) << r.status;
      EXPECT_EQ(r.token_ids, alone[i]) << "request " << i;
      distinct.insert(r.token_ids.begin(), r.token_ids.end());
    }
    EXPECT_GT(distinct.size(), 20u);  // not one degenerate output
  }
}

TEST(MoeEngine, SeededSampleAloneEqualsUnderLoadBitwise) {
  auto engine = Engine::Create(MoeModel(), Config());
  ASSERT_TRUE(engine.ok()) << engine.status();
  testing::ExpectSeededSampleAloneEqualsUnderLoad(**engine, Prompt, /*crowd_length_step=*/4);
}

}  // namespace
}  // namespace hearth::engine
