// Whole-model conformance of the CUDA backend against the CPU backend on the same machine (label
// gpu: skipped without a device). Models: $HEARTH_CUDA_MODELS/synthetic/*.gguf (one per weight
// type) and $HEARTH_CUDA_MODELS/cut.gguf (the default model's first 4 layers), written by
// scripts/cuda-test-models.py (default folder: build/cuda_models).
//
// Every check prints a "CHECK|..." line and fails the test when it fails; each model gets one
// "TABLE|conformance|model|results|limits|PASS or FAIL: checks" row (scripts/gpu-run.sh collects
// them into the GPU check's table):
//   logits       max |CUDA - CPU f32| / max |CPU logit| over a 40-token prefill and 8 teacher-
//                forced decode steps; limits: exact mode 1e-4 (fp32 throughout, other summation
//                orders), invariant and fast modes 3e-2 (weights and activations rounded to fp16,
//                fp16 K/V)
//   greedy       24 greedy tokens, CUDA (default mode) vs CPU f32: equal, or the first
//                divergence where the CPU's top-2 margin is below 2x the logit error seen
//   split        two stages on the same GPU: logits and tokens bitwise equal to one stage
//   offload      gpu_layers = half: within the invariant limit of the CPU, greedy as above
//   swap         K/V swapped out, clobbered and swapped into other blocks: the next step's
//                logits bitwise equal to a run without the swap
//   sampling     (cut model) a seeded sampled request alone and 32 identical ones in one batch
//                through the engine: the same tokens
// The synthetic models include mixtures of experts (synthetic_models.MOE_SPECS: Mixtral-layout
// llama in F32, Q8_0, Q4_K, Q6_K with both tensor layouts, and a qwen2moe with its shared
// expert), which take every check above, and one more:
//   moe batch    (each MoE model) 32 sequences with different prompts, so different routes,
//                prefilled together and decoded 4 teacher-forced steps together: every
//                sequence's logits bitwise equal to the same sequence run alone, in the
//                invariant and the exact mode
// A routing decision is discrete: where fp16 rounding upstream moves a token's router logits
// across a near-tie, that token takes another expert, which shows as a logits error far above
// the half limit at that step (the router itself runs in fp32 to keep this rare).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/cuda/cuda_buffer.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/engine.h"
#include "engine/runtime/backend_factory.h"
#include "engine/testing/sequence_runner.h"

namespace hearth::engine::cuda {
namespace {

namespace fs = std::filesystem;

constexpr int32_t kBlock = 16;
constexpr int32_t kPrompt = 40;
constexpr int32_t kSteps = 8;
constexpr double kExactLimit = 1e-4;
constexpr double kHalfLimit = 3e-2;

std::string ModelsDir() {
  const char* env = std::getenv("HEARTH_CUDA_MODELS");
  return env != nullptr ? env : std::string(HEARTH_BINARY_DIR) + "/cuda_models";
}

struct NamedModel {
  std::string name;
  std::unique_ptr<LoadedModel> model;
};

std::vector<NamedModel> Models() {
  std::vector<NamedModel> out;
  std::vector<fs::path> paths;
  const fs::path dir = ModelsDir();
  if (fs::exists(dir / "synthetic")) {
    for (const auto& e : fs::directory_iterator(dir / "synthetic")) paths.push_back(e.path());
  }
  std::sort(paths.begin(), paths.end());
  if (fs::exists(dir / "cut.gguf")) paths.push_back(dir / "cut.gguf");
  for (const fs::path& p : paths) {
    auto m = LoadedModel::Open(p.string());
    EXPECT_TRUE(m.ok()) << p << ": " << m.status();
    if (m.ok()) out.push_back({p.stem().string(), *std::move(m)});
  }
  return out;
}

// One model's checks: each is printed as a "CHECK|..." line and fails the test when it fails;
// Summary() is the model's one table row.
class Checks {
 public:
  explicit Checks(std::string model) : model_(std::move(model)) {}

  // `shown`: the value in the table row (empty: none).
  bool Add(const std::string& check, const std::string& shown, double value, double limit,
           bool pass) {
    std::printf("CHECK|conformance|%s %s|%s|%.3g|%.3g|%s\n", model_.c_str(), check.c_str(),
                shown.c_str(), value, limit, pass ? "PASS" : "FAIL");
    std::fflush(stdout);
    EXPECT_TRUE(pass) << model_ << " " << check << ": " << shown << " (" << value << ", limit "
                      << limit << ")";
    if (!shown.empty()) absl::StrAppend(&summary_, summary_.empty() ? "" : "; ", shown);
    if (!pass) absl::StrAppend(&failed_, failed_.empty() ? "" : ", ", check);
    return pass;
  }

  void PrintRow(const std::string& limits) const {
    std::printf("TABLE|conformance|%s|%s|%s|%s\n", model_.c_str(), summary_.c_str(), limits.c_str(),
                failed_.empty() ? "PASS" : ("FAIL: " + failed_).c_str());
    std::fflush(stdout);
  }

 private:
  std::string model_;
  std::string summary_;
  std::string failed_;
};

class CudaConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CudaDeviceAvailable()) GTEST_SKIP() << "no CUDA device";
    models_ = Models();
    if (models_.empty()) {
      GTEST_SKIP() << "no test models in " << ModelsDir() << ": run scripts/cuda-test-models.py "
                   << ModelsDir();
    }
  }
  std::vector<NamedModel> models_;
};

// A backend from a device config (CPU stages: f32 precision and f32 K/V, the reference path).
std::unique_ptr<SplitBackend> FromConfig(const LoadedModel& model, DeviceConfig device) {
  BackendConfig config;
  device.cpu_precision = cpu::ActPrecision::kF32;
  device.threads =
      static_cast<int32_t>(std::clamp(std::thread::hardware_concurrency() / 2, 2u, 8u));
  config.device = std::move(device);
  auto backend = CreateBackend(model, config);
  EXPECT_TRUE(backend.ok()) << backend.status();
  return backend.ok() ? *std::move(backend) : nullptr;
}

std::unique_ptr<SplitBackend> Cpu(const LoadedModel& model) {
  DeviceConfig d;
  d.device = DeviceId{DeviceKind::kCpu, 0};
  return FromConfig(model, d);
}

std::unique_ptr<SplitBackend> Devices(const LoadedModel& model, const std::string& specs) {
  DeviceConfig d;
  auto parsed = ParseStageSpecs(specs);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (!parsed.ok()) return nullptr;
  d.devices = *parsed;
  return FromConfig(model, d);
}

// One CUDA stage with every layer, in `mode`.
std::unique_ptr<SplitBackend> Cuda(const LoadedModel& model, CudaGemmMode mode) {
  CudaOpsOptions options;
  options.gemm = mode;
  options.kv_dtype = mode == CudaGemmMode::kExact ? KvDtype::kF32 : KvDtype::kF16;
  options.cublas_min_tokens = 16;  // the prefill takes cuBLAS in fast mode
  options.progress = false;
  const ModelConfig& c = model.config();
  auto ops = CudaOps::Create(c, model.weights().rope_freq_factors, c.num_layers, options);
  EXPECT_TRUE(ops.ok()) << ops.status();
  if (!ops.ok()) return nullptr;
  Stage stage;
  stage.ops = *std::move(ops);
  auto graph = CreateModelGraph(model, LayerRange{0, c.num_layers}, stage.ops.get());
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return nullptr;
  stage.graph = *std::move(graph);
  stage.host_memory = false;
  std::vector<Stage> stages;
  stages.push_back(std::move(stage));
  auto backend = SplitBackend::Create(c, std::move(stages));
  EXPECT_TRUE(backend.ok()) << backend.status();
  return backend.ok() ? *std::move(backend) : nullptr;
}

std::vector<int32_t> Prompt(const LoadedModel& model, int32_t n, uint32_t seed) {
  const int32_t vocab = model.config().vocab_size;
  std::vector<int32_t> out(n);
  uint32_t s = seed;
  for (auto& t : out) {
    s = s * 1664525u + 1013904223u;
    t = static_cast<int32_t>((s >> 8) % static_cast<uint32_t>(vocab > 1000 ? vocab - 1000 : vocab));
  }
  return out;
}

// Logits of the prompt's last token and of each of `forced` next tokens fed one per step.
std::vector<std::vector<float>> TeacherForced(Backend* backend, const std::vector<int32_t>& prompt,
                                              const std::vector<int32_t>& forced) {
  std::vector<std::vector<float>> out;
  SequenceRunner runner(backend, kBlock);
  EXPECT_TRUE(runner.Init(1, 256).ok());
  const int32_t id = runner.Add(prompt);
  std::vector<float> logits;
  for (size_t step = 0; step <= forced.size(); ++step) {
    const int32_t n = step == 0 ? static_cast<int32_t>(prompt.size()) : 1;
    auto batch = runner.MakeBatch({{id, n}});
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok()) break;
    const absl::Status s = backend->Forward(*batch, &logits);
    EXPECT_TRUE(s.ok()) << s;
    if (!s.ok()) break;
    runner.Commit(*batch);
    out.push_back(logits);
    if (step < forced.size()) runner.Append(id, forced[step]);
  }
  return out;
}

double Margin(const std::vector<float>& v) {
  std::vector<float> s = v;
  std::partial_sort(s.begin(), s.begin() + 2, s.end(), std::greater<float>());
  return s[0] - s[1];
}

// max |a - b| / max |b| over every step.
double RelativeError(const std::vector<std::vector<float>>& a,
                     const std::vector<std::vector<float>>& b) {
  double err = 0, scale = 0;
  if (a.size() != b.size()) return INFINITY;
  for (size_t s = 0; s < a.size(); ++s) {
    if (a[s].size() != b[s].size()) return INFINITY;
    for (size_t i = 0; i < a[s].size(); ++i) {
      err = std::max(err, std::fabs(static_cast<double>(a[s][i]) - b[s][i]));
      scale = std::max(scale, std::fabs(static_cast<double>(b[s][i])));
    }
  }
  return err / std::max(scale, 1e-30);
}

bool BitwiseEqual(const std::vector<std::vector<float>>& a,
                  const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t s = 0; s < a.size(); ++s) {
    if (a[s].size() != b[s].size() ||
        std::memcmp(a[s].data(), b[s].data(), a[s].size() * sizeof(float)) != 0) {
      return false;
    }
  }
  return true;
}

std::vector<int32_t> GreedyTokens(Backend* backend, const std::vector<int32_t>& prompt, int n) {
  SequenceRunner runner(backend, kBlock);
  EXPECT_TRUE(runner.Init(1, 256).ok());
  runner.Add(prompt);
  auto out = runner.Greedy(n, 64);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : std::vector<int32_t>();
}

// The greedy check: equal tokens, or a divergence at a near-tie of the CPU's logits.
void CheckGreedy(Checks* checks, const std::string& name, Backend* cpu, Backend* other,
                 const std::vector<int32_t>& prompt, double logit_error_abs) {
  const auto want = GreedyTokens(cpu, prompt, 24);
  const auto got = GreedyTokens(other, prompt, 24);
  size_t k = 0;
  while (k < want.size() && k < got.size() && want[k] == got[k]) ++k;
  if (k == want.size() && got.size() == want.size()) {
    checks->Add(name, name + " 24/24", 24, 24, true);
    return;
  }
  // The CPU's margin at the divergence.
  std::vector<int32_t> forced(want.begin(), want.begin() + k);
  const auto logits = TeacherForced(cpu, prompt, forced);
  const double margin = logits.empty() ? 0 : Margin(logits.back());
  checks->Add(name, absl::StrFormat("%s %d/24, margin %.2g", name, static_cast<int>(k), margin),
              margin, 2 * logit_error_abs, margin < 2 * logit_error_abs);
}

TEST_F(CudaConformanceTest, LogitsGreedySplitOffloadAndSwap) {
  for (const NamedModel& nm : models_) {
    SCOPED_TRACE(nm.name);
    Checks checks(nm.name);
    const LoadedModel& model = *nm.model;
    const int32_t layers = model.config().num_layers;
    const auto prompt = Prompt(model, kPrompt, 7);
    auto cpu = Cpu(model);
    ASSERT_NE(cpu, nullptr);
    const auto cpu_tokens = GreedyTokens(cpu.get(), prompt, kSteps);
    const auto want = TeacherForced(cpu.get(), prompt, cpu_tokens);
    double scale = 0;
    for (const auto& l : want) {
      for (float v : l) scale = std::max(scale, std::fabs(static_cast<double>(v)));
    }

    std::vector<std::vector<float>> invariant;
    for (CudaGemmMode mode :
         {CudaGemmMode::kExact, CudaGemmMode::kInvariant, CudaGemmMode::kFast}) {
      auto cuda = Cuda(model, mode);
      ASSERT_NE(cuda, nullptr);
      const auto got = TeacherForced(cuda.get(), prompt, cpu_tokens);
      const double limit = mode == CudaGemmMode::kExact ? kExactLimit : kHalfLimit;
      const double err = RelativeError(got, want);
      checks.Add(absl::StrCat("logits ", CudaGemmModeName(mode)),
                 absl::StrFormat("%s %.1e", CudaGemmModeName(mode), err), err, limit, err <= limit);
      if (mode == CudaGemmMode::kInvariant) {
        invariant = got;
        CheckGreedy(&checks, "greedy", cpu.get(), cuda.get(), prompt, err * scale);
      }
    }

    // Two stages on the same GPU.
    const std::string split =
        absl::StrCat("cuda:0:0-", layers / 2 - 1, ",cuda:0:", layers / 2, "-", layers - 1);
    if (layers >= 2) {
      auto two = Devices(model, split);
      ASSERT_NE(two, nullptr);
      const auto got = TeacherForced(two.get(), prompt, cpu_tokens);
      const bool equal = BitwiseEqual(got, invariant);
      checks.Add("split", equal ? "split ==" : "split differs", 0, 0, equal);
    }
    // Offload: the first half on the GPU, the rest on the CPU.
    {
      DeviceConfig d;
      d.device = DeviceId{DeviceKind::kCuda, 0};
      d.gpu_layers = layers / 2;
      auto offload = FromConfig(model, d);
      ASSERT_NE(offload, nullptr);
      const auto got = TeacherForced(offload.get(), prompt, cpu_tokens);
      const double err = RelativeError(got, want);
      checks.Add("offload", absl::StrFormat("offload %.1e", err), err, kHalfLimit,
                 err <= kHalfLimit);
      CheckGreedy(&checks, "offload greedy", cpu.get(), offload.get(), prompt, err * scale);
    }
    // Swap round trip on two GPU stages: prefill, swap out, clobber, swap into other blocks,
    // decode; against the same decode without the swap.
    {
      auto plain = Devices(model, split);
      auto swapped = Devices(model, split);
      ASSERT_NE(plain, nullptr);
      ASSERT_NE(swapped, nullptr);
      std::vector<float> a, b;
      for (int pass = 0; pass < 2; ++pass) {
        SplitBackend* backend = pass == 0 ? plain.get() : swapped.get();
        SequenceRunner runner(backend, kBlock);
        ASSERT_TRUE(runner.Init(4, 128, /*host_blocks=*/8).ok());
        const int32_t id = runner.Add(prompt);  // blocks 0..7 of sequence 0
        auto batch = runner.MakeBatch({{id, kPrompt}});
        ASSERT_TRUE(batch.ok());
        std::vector<float> logits;
        ASSERT_TRUE(backend->Forward(*batch, &logits).ok());
        runner.Commit(*batch);
        runner.Append(id, cpu_tokens[0]);
        std::vector<int32_t> table = runner.block_table(id);
        const int32_t used = (kPrompt + kBlock) / kBlock;
        if (pass == 1) {
          std::vector<std::pair<int32_t, int32_t>> out, clobber, in;
          std::vector<int32_t> moved = table;
          for (int32_t i = 0; i < used; ++i) {
            out.push_back({table[i], i});
            clobber.push_back({runner.blocks_per_seq() * 3, table[i]});  // an unused block
            moved[i] = runner.blocks_per_seq() * 2 + i;                  // sequence 2's blocks
            in.push_back({i, moved[i]});
          }
          ASSERT_TRUE(backend->SwapOut(out).ok());
          ASSERT_TRUE(backend->CopyBlocks(clobber).ok());
          ASSERT_TRUE(backend->SwapIn(in).ok());
          table = moved;
        }
        // The decode step with the (possibly moved) table.
        Batch step;
        step.tokens = {cpu_tokens[0]};
        step.positions = {kPrompt};
        BatchSequence s;
        s.num_tokens = 1;
        s.context_len = kPrompt + 1;
        s.block_table = table;
        s.sample = true;
        step.sequences = {s};
        ASSERT_TRUE(backend->Forward(step, pass == 0 ? &a : &b).ok());
      }
      const bool equal = a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
      checks.Add("swap", equal ? "swap ==" : "swap differs", 0, 0, equal);
    }
    checks.PrintRow(
        absl::StrFormat("logits <= %.0e exact, %.0e else; == bitwise", kExactLimit, kHalfLimit));
  }
}

TEST_F(CudaConformanceTest, MoeSequenceAloneEqualsInBatchOf32Bitwise) {
  constexpr int32_t kSeqs = 32, kLen = 12, kForced = 4;
  int ran = 0;
  for (const NamedModel& nm : models_) {
    const LoadedModel& model = *nm.model;
    if (!model.config().is_moe()) continue;
    SCOPED_TRACE(nm.name);
    ++ran;
    Checks checks(nm.name + " moe batch");
    std::vector<std::vector<int32_t>> prompts, forced;
    for (int32_t i = 0; i < kSeqs; ++i) {
      prompts.push_back(Prompt(model, kLen + i % 5, 100 + i));
      forced.push_back(Prompt(model, kForced, 500 + i));
    }
    for (CudaGemmMode mode : {CudaGemmMode::kInvariant, CudaGemmMode::kExact}) {
      auto cuda = Cuda(model, mode);
      ASSERT_NE(cuda, nullptr);
      // Together: one prefill of all 32, then one decode step of all 32 per forced token.
      std::vector<std::vector<std::vector<float>>> together(kSeqs);
      {
        SequenceRunner runner(cuda.get(), kBlock);
        ASSERT_TRUE(runner.Init(kSeqs, 64).ok());
        for (const auto& p : prompts) runner.Add(p);
        const int32_t vocab = model.config().vocab_size;
        for (int32_t step = 0; step <= kForced; ++step) {
          std::vector<std::pair<int32_t, int32_t>> work;
          for (int32_t i = 0; i < kSeqs; ++i) {
            work.push_back({i, step == 0 ? static_cast<int32_t>(prompts[i].size()) : 1});
          }
          auto batch = runner.MakeBatch(work);
          ASSERT_TRUE(batch.ok()) << batch.status();
          std::vector<float> logits;
          const absl::Status s = cuda->Forward(*batch, &logits);
          ASSERT_TRUE(s.ok()) << s;
          ASSERT_EQ(logits.size(), static_cast<size_t>(kSeqs) * vocab);
          runner.Commit(*batch);
          for (int32_t i = 0; i < kSeqs; ++i) {
            together[i].emplace_back(logits.begin() + int64_t{i} * vocab,
                                     logits.begin() + int64_t{i + 1} * vocab);
            if (step < kForced) runner.Append(i, forced[i][step]);
          }
        }
      }
      int same = 0;
      for (int32_t i = 0; i < kSeqs; ++i) {
        same += BitwiseEqual(TeacherForced(cuda.get(), prompts[i], forced[i]), together[i]) ? 1 : 0;
      }
      checks.Add(absl::StrCat("alone vs 32 ", CudaGemmModeName(mode)),
                 absl::StrCat(CudaGemmModeName(mode), " ", same, "/32 =="), same, kSeqs,
                 same == kSeqs);
    }
    checks.PrintRow("32/32 bitwise");
  }
  if (ran == 0) GTEST_SKIP() << "no mixture-of-experts model in " << ModelsDir();
}

TEST_F(CudaConformanceTest, SeededSamplingAloneEqualsInBatchOf32) {
  const NamedModel* cut = nullptr;
  for (const NamedModel& nm : models_) {
    if (nm.name == "cut") cut = &nm;
  }
  if (cut == nullptr) GTEST_SKIP() << "no cut.gguf in " << ModelsDir();
  EngineConfig config;
  config.device.device = DeviceId{DeviceKind::kCuda, 0};
  config.kv_cache.bytes = int64_t{256} << 20;
  config.kv_cache.swap_space_bytes = 0;
  config.scheduler.max_model_len = 512;
  config.scheduler.max_num_seqs = 64;
  config.scheduler.max_num_batched_tokens = 2048;
  auto engine = Engine::Create(*cut->model, config);
  ASSERT_TRUE(engine.ok()) << engine.status();
  Request r;
  r.prompt_tokens = Prompt(*cut->model, 40, 3);
  r.params.temperature = 0.9f;
  r.params.top_p = 0.95f;
  r.params.seed = 1234;
  r.params.max_tokens = 32;
  r.params.ignore_eos = true;
  auto alone = (*engine)->Generate({r});
  ASSERT_TRUE(alone.ok()) << alone.status();
  const std::vector<int32_t> want = (*alone)[0][0].token_ids;
  auto batch = (*engine)->Generate(std::vector<Request>(32, r));
  ASSERT_TRUE(batch.ok()) << batch.status();
  int same = 0;
  for (const auto& result : *batch) same += result[0].token_ids == want ? 1 : 0;
  Checks checks("cut seeded sampling");
  checks.Add("alone vs 32 in a batch",
             absl::StrCat(same, "/32 identical to alone (", want.size(), " tokens, seed 1234)"),
             same, 32, same == 32);
  checks.PrintRow("32/32");
}

}  // namespace
}  // namespace hearth::engine::cuda
