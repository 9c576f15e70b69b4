// hearth_moe_bytes: how many bytes of a model's weights one decode step reads, measured, against
// the active-parameter bytes (ModelWeights::MatrixBytesPerToken) and the whole file.
//
//   hearth_moe_bytes --model M.gguf [--threads 2] [--batch 32]
//
// The model runs in f32 activation precision, where the matmuls read the GGUF rows in the
// memory-mapped file itself (q8 reads a repacked copy made at load). A mapped page enters this
// process's resident set the first time it is read, so the growth of the mapping's Rss
// (/proc/self/smaps) across a forward pass is what that pass read (to the page, plus the kernel's
// fault-around of up to 64 KiB of already cached neighbours). Measured: one token alone (a
// decode step of one stream reads this), then `--batch` single-token sequences with different
// tokens in one step (the union of the experts they are routed to).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/status_macros.h"
#include "engine/model/model.h"
#include "engine/testing/cpu_backend.h"
#include "engine/testing/sequence_runner.h"

namespace hearth::engine {
namespace {

// Rss in bytes of the mapping that starts at `base` (-1 if not found).
int64_t MappingRss(const void* base) {
  std::ifstream smaps("/proc/self/smaps");
  char start[32];
  std::snprintf(start, sizeof(start), "%lx-", reinterpret_cast<unsigned long>(base));
  bool in_mapping = false;
  for (std::string line; std::getline(smaps, line);) {
    if (line.rfind(start, 0) == 0) {
      in_mapping = true;
    } else if (in_mapping && line.rfind("Rss:", 0) == 0) {
      return std::stoll(line.substr(4)) * 1024;
    }
  }
  return -1;
}

double MiB(int64_t b) { return b / 1048576.0; }

absl::Status Run(const std::string& path, int threads, int batch) {
  ASSIGN_OR_RETURN(auto model, LoadedModel::Open(path));
  const ModelConfig& c = model->config();
  const ModelWeights& w = model->weights();
  int64_t expert_bytes = 0;
  for (const LayerWeights& l : w.layers) {
    for (const ExpertWeights& e : l.experts) {
      expert_bytes += static_cast<int64_t>(e.gate.num_bytes + e.up.num_bytes + e.down.num_bytes);
    }
  }
  ASSIGN_OR_RETURN(auto backend,
                   MakeCpuBackend(*model, threads, {cpu::ActPrecision::kF32, std::nullopt, ""}));
  SequenceRunner runner(backend.get(), 16);
  RETURN_IF_ERROR(runner.Init(batch + 1, 16));
  std::vector<float> logits;
  const void* base = model->file().bytes();
  const int64_t at_load = MappingRss(base);
  if (at_load < 0) return absl::InternalError("model mapping not found in /proc/self/smaps");

  const int32_t one = runner.Add({7});
  ASSIGN_OR_RETURN(Batch b1, runner.MakeBatch({{one, 1}}));
  RETURN_IF_ERROR(backend->Forward(b1, &logits));
  const int64_t after_one = MappingRss(base);

  std::vector<std::pair<int32_t, int32_t>> work;
  for (int i = 0; i < batch; ++i) {
    work.push_back({runner.Add({(11 + 37 * i) % c.vocab_size}), 1});
  }
  ASSIGN_OR_RETURN(Batch bn, runner.MakeBatch(work));
  RETURN_IF_ERROR(backend->Forward(bn, &logits));
  const int64_t after_batch = MappingRss(base);

  const int64_t active = w.MatrixBytesPerToken();
  const int64_t one_token = after_one - at_load;
  const int64_t union_bytes = after_batch - at_load;
  std::printf("model %s: %d layers, %s\n", path.c_str(), c.num_layers,
              c.is_moe() ? (std::to_string(c.expert_used_count) + " of " +
                            std::to_string(c.expert_count) + " experts per token")
                               .c_str()
                         : "dense");
  std::printf("file                                   %9.1f MiB\n", MiB(model->file().size()));
  std::printf("  of which experts                     %9.1f MiB\n", MiB(expert_bytes));
  std::printf("active matrix bytes per token          %9.1f MiB\n", MiB(active));
  std::printf("read by 1 token (measured)             %9.1f MiB  (%.3f x active)\n", MiB(one_token),
              static_cast<double>(one_token) / active);
  std::printf("read by a step of %2d tokens (measured) %9.1f MiB  (%.1f MiB per token)\n", batch,
              MiB(union_bytes), MiB(union_bytes) / batch);
  return absl::OkStatus();
}

}  // namespace
}  // namespace hearth::engine

int main(int argc, char** argv) {
  std::string model;
  int threads = 2, batch = 32;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], v = argv[i + 1];
    if (flag == "--model") {
      model = v;
    } else if (flag == "--threads") {
      threads = std::stoi(v);
    } else if (flag == "--batch") {
      batch = std::stoi(v);
    } else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (model.empty()) {
    std::cerr << "usage: hearth_moe_bytes --model M.gguf [--threads 2] [--batch 32]\n";
    return 2;
  }
  const absl::Status s = hearth::engine::Run(model, threads, batch);
  if (!s.ok()) {
    std::cerr << "hearth_moe_bytes: " << s << "\n";
    return 1;
  }
  return 0;
}
