// Encode / decode throughput of the default model's tokenizer (gpt2 BPE, smollm pre-tokenizer).
//   build/bench/tokenizer/tokenizer_bench [--benchmark_filter=...]
// Bytes/s is input text bytes for Encode and output text bytes for Decode.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/tokenizer.h"

namespace tk = hearth::engine::tokenizer;

namespace {

const tk::Tokenizer& Tok() {
  static const std::unique_ptr<tk::Tokenizer> tok = [] {
    auto file = hearth::engine::GgufFile::Open(HEARTH_DEFAULT_MODEL);
    if (!file.ok()) std::abort();
    auto t = tk::Tokenizer::FromGguf(**file);
    if (!t.ok()) std::abort();
    return std::move(*t);
  }();
  return *tok;
}

// ~1 MiB of mixed prose, code, numbers and unicode; `unique` makes most words distinct (cache
// misses), otherwise a small vocabulary repeats (cache hits).
std::string Text(bool unique) {
  std::mt19937 rng(42);
  const std::vector<std::string> words = {
      "the",       "serving",    "engine",     "batches",     "requests", "with",  "paged",
      "attention", "and",        "continuous", "scheduling;", "def",      "f(x):", "return",
      "x",         "*",          "2",          "\n",          "日本語",   "café",  "😀",
      "3.14159",   "2024-01-31", "tokens",     "per",         "second",   "\t",    "  "};
  std::string text;
  while (text.size() < (1u << 20)) {
    if (unique) {
      const int len = 2 + static_cast<int>(rng() % 9);
      text += ' ';
      for (int i = 0; i < len; ++i) text += static_cast<char>('a' + rng() % 26);
    } else {
      text += words[rng() % words.size()];
      text += ' ';
    }
  }
  return text;
}

void BM_Encode(benchmark::State& state) {
  const std::string text = Text(state.range(0) != 0);
  const tk::Tokenizer& tok = Tok();
  size_t n = 0;
  for (auto _ : state) {
    std::vector<tk::TokenId> ids = tok.Encode(text);
    n = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n);
}
BENCHMARK(BM_Encode)->Arg(0)->Arg(1)->ArgNames({"unique_words"})->Unit(benchmark::kMillisecond);

void BM_IncrementalDecode(benchmark::State& state) {
  const std::vector<tk::TokenId> ids = Tok().Encode(Text(false));
  size_t bytes = 0;
  for (auto _ : state) {
    tk::IncrementalDecoder dec(&Tok());
    bytes = 0;
    for (tk::TokenId id : ids) bytes += dec.Add(id).size();
    bytes += dec.Flush().size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_IncrementalDecode)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
