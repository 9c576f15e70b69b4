// forward_dump: runs token sequences through the CPU backend and dumps what the Python tests
// compare against the NumPy reference.
//
//   forward_dump --model M.gguf --prompts P.txt --out DIR [--threads 2] [--new 64] [--chunk 0]
//                [--block-size 16] [--precision q8|f32] [--kv-dtype auto|f16|f32]
//                [--devices cpu:0-14,cpu:15-29]
//
// P.txt: one prompt per line, token ids separated by spaces. All prompts run together in each
// step's batch: prefill in chunks of --chunk tokens (0: whole prompts), with logits for every
// prompt token; then --new greedy tokens, all sequences decoding in one batch per step.
// Writes DIR/prompt_logits.npy (float32 [sum of prompt lengths, vocab], prompts in order) and
// DIR/greedy.txt (one line per prompt: the generated ids). --kv-dtype auto is the engine's rule:
// f32 K/V with --precision f32, else f16. --devices splits the layers over CPU stages.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/model/model.h"
#include "engine/testing/cpu_backend.h"
#include "engine/testing/forward_all.h"
#include "engine/testing/sequence_runner.h"

namespace hearth::engine {
namespace {

struct Args {
  std::string model, prompts, out;
  int threads = 2, num_new = 64, chunk = 0, block_size = 16;
  std::string precision = "q8";   // CPU matmul activation precision
  std::string kv_dtype = "auto";  // K/V cache element type
  std::string devices;            // a split over CPU stages (empty: one stage)
};

absl::Status WriteNpy(const std::string& path, const std::vector<float>& data, int64_t rows,
                      int64_t cols) {
  std::string header =
      absl::StrCat("{'descr': '<f4', 'fortran_order': False, 'shape': (", rows, ", ", cols, "), }");
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  const uint16_t len = static_cast<uint16_t>(header.size());
  f.write("\x93NUMPY\x01\x00", 8);
  f.write(reinterpret_cast<const char*>(&len), 2);
  f.write(header.data(), header.size());
  f.write(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
  if (!f) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status Run(const Args& args) {
  std::vector<std::vector<int32_t>> prompts;
  std::ifstream in(args.prompts);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ss(line);
    std::vector<int32_t> ids;
    for (int32_t id; ss >> id;) ids.push_back(id);
    if (!ids.empty()) prompts.push_back(ids);
  }
  if (prompts.empty()) return absl::InvalidArgumentError("no prompts in " + args.prompts);

  ASSIGN_OR_RETURN(auto model, LoadedModel::Open(args.model));
  const std::optional<cpu::ActPrecision> precision = cpu::ParseActPrecision(args.precision);
  if (!precision) return absl::InvalidArgumentError("--precision must be q8 or f32");
  CpuBackendOptions options{.precision = *precision, .devices = args.devices};
  if (args.kv_dtype != "auto") {
    options.kv_dtype = ParseKvDtype(args.kv_dtype);
    if (!options.kv_dtype) return absl::InvalidArgumentError("--kv-dtype must be auto, f16 or f32");
  }
  ASSIGN_OR_RETURN(auto backend, MakeCpuBackend(*model, args.threads, options));
  const int32_t vocab = backend->vocab_size();
  int32_t max_len = 0;
  for (const auto& p : prompts) max_len = std::max<int32_t>(max_len, p.size());
  SequenceRunner runner(backend.get(), args.block_size);
  RETURN_IF_ERROR(runner.Init(prompts.size(), max_len + args.num_new));
  for (const auto& p : prompts) runner.Add(p);

  // Prefill with logits for every token; rows gathered per prompt.
  std::vector<std::vector<float>> per_prompt(prompts.size());
  const int32_t chunk = args.chunk > 0 ? args.chunk : max_len;
  std::vector<float> logits;
  while (true) {
    std::vector<std::pair<int32_t, int32_t>> work;
    for (int32_t i = 0; i < runner.num_sequences(); ++i) {
      const int32_t left = static_cast<int32_t>(prompts[i].size()) - runner.cached(i);
      if (left > 0) work.push_back({i, std::min(left, chunk)});
    }
    if (work.empty()) break;
    ASSIGN_OR_RETURN(Batch batch, runner.MakeBatch(work));
    RETURN_IF_ERROR(ForwardAllTokens(*backend, batch, &logits));
    runner.Commit(batch);
    for (size_t s = 0; s < work.size(); ++s) {
      const BatchSequence& bs = batch.sequences[s];
      per_prompt[work[s].first].insert(
          per_prompt[work[s].first].end(), logits.begin() + int64_t{bs.token_begin} * vocab,
          logits.begin() + int64_t{bs.token_begin + bs.num_tokens} * vocab);
    }
  }
  std::vector<float> all;
  int64_t rows = 0;
  std::vector<std::vector<int32_t>> generated(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    all.insert(all.end(), per_prompt[i].begin(), per_prompt[i].end());
    rows += prompts[i].size();
    if (args.num_new > 0) {
      const float* last = per_prompt[i].data() + (prompts[i].size() - 1) * vocab;
      const int32_t tok = static_cast<int32_t>(std::max_element(last, last + vocab) - last);
      generated[i].push_back(tok);
      runner.Append(i, tok);
    }
  }
  RETURN_IF_ERROR(WriteNpy(args.out + "/prompt_logits.npy", all, rows, vocab));
  if (args.num_new > 1) {
    ASSIGN_OR_RETURN(auto more, runner.Greedy(args.num_new - 1, chunk));
    for (size_t i = 0; i < prompts.size(); ++i) {
      generated[i].insert(generated[i].end(), more[i].begin(), more[i].end());
    }
  }
  std::ofstream g(args.out + "/greedy.txt");
  for (const auto& ids : generated) {
    for (size_t j = 0; j < ids.size(); ++j) g << (j ? " " : "") << ids[j];
    g << "\n";
  }
  if (!g) return absl::InternalError("cannot write greedy.txt");
  return absl::OkStatus();
}

}  // namespace
}  // namespace hearth::engine

int main(int argc, char** argv) {
  hearth::engine::Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--model")
      args.model = value;
    else if (flag == "--prompts")
      args.prompts = value;
    else if (flag == "--out")
      args.out = value;
    else if (flag == "--threads")
      args.threads = std::stoi(value);
    else if (flag == "--new")
      args.num_new = std::stoi(value);
    else if (flag == "--chunk")
      args.chunk = std::stoi(value);
    else if (flag == "--devices")
      args.devices = value;
    else if (flag == "--precision")
      args.precision = value;
    else if (flag == "--block-size")
      args.block_size = std::stoi(value);
    else if (flag == "--kv-dtype")
      args.kv_dtype = value;
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (args.model.empty() || args.prompts.empty() || args.out.empty()) {
    std::cerr << "usage: forward_dump --model M --prompts P --out DIR [--threads N] [--new N]"
                 " [--chunk N] [--block-size N] [--precision q8|f32] [--kv-dtype auto|f16|f32]"
                 " [--devices SPLIT]\n";
    return 2;
  }
  const absl::Status status = hearth::engine::Run(args);
  if (!status.ok()) {
    std::cerr << "forward_dump: " << status << "\n";
    return 1;
  }
  return 0;
}
