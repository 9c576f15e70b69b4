// Test helper: a tiny random llama / qwen2 model as an in-memory GGUF image, written byte by
// byte from the format description (independent of the parser), for unit tests that need a
// model but not a real one.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace hearth::engine::testing {

struct TinyModelSpec {
  std::string arch = "llama";
  int layers = 2;
  int dim = 64;
  int heads = 4;
  int kv_heads = 2;
  int ffn = 96;
  int vocab = 101;
  int context = 512;
  bool tied = false;
  bool q8_0 = true;  // matrices as Q8_0 (random int8, fp16 scale 0.004); else F32
  // A SentencePiece-style ("llama") tokenizer in the metadata: <unk> <s> </s>, the 256 byte
  // tokens, then filler pieces up to `vocab` (>= 259), so an Engine can run the model.
  bool tokenizer = false;
  uint32_t seed = 7;
  std::set<std::string> omit_keys;  // metadata keys to leave out ("llama.block_count")
  std::map<std::string, std::vector<uint64_t>> shape_override;  // tensor name -> dims
};

class TinyModelWriter {
 public:
  explicit TinyModelWriter(const TinyModelSpec& spec) : spec_(spec), rng_(spec.seed) {}

  std::string Build() {
    const TinyModelSpec& s = spec_;
    const std::string a = s.arch + ".";
    KvString("general.architecture", s.arch);
    KvU32(a + "block_count", s.layers);
    KvU32(a + "context_length", s.context);
    KvU32(a + "embedding_length", s.dim);
    KvU32(a + "feed_forward_length", s.ffn);
    KvU32(a + "attention.head_count", s.heads);
    KvU32(a + "attention.head_count_kv", s.kv_heads);
    KvF32(a + "rope.freq_base", 10000.0f);
    KvF32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
    if (s.tokenizer) Tokenizer();
    const uint64_t q = s.dim, kv = s.dim / s.heads * s.kv_heads;
    Matrix("token_embd.weight", s.dim, s.vocab);
    Vector("output_norm.weight", s.dim, 1.0f);
    if (!s.tied) Matrix("output.weight", s.dim, s.vocab);
    for (int l = 0; l < s.layers; ++l) {
      const std::string b = "blk." + std::to_string(l) + ".";
      Vector(b + "attn_norm.weight", s.dim, 1.0f);
      Matrix(b + "attn_q.weight", s.dim, q);
      Matrix(b + "attn_k.weight", s.dim, kv);
      Matrix(b + "attn_v.weight", s.dim, kv);
      if (s.arch == "qwen2") {
        Vector(b + "attn_q.bias", q, 0.0f);
        Vector(b + "attn_k.bias", kv, 0.0f);
        Vector(b + "attn_v.bias", kv, 0.0f);
      }
      Matrix(b + "attn_output.weight", q, s.dim);
      Vector(b + "ffn_norm.weight", s.dim, 1.0f);
      Matrix(b + "ffn_gate.weight", s.dim, s.ffn);
      Matrix(b + "ffn_up.weight", s.dim, s.ffn);
      Matrix(b + "ffn_down.weight", s.ffn, s.dim);
    }
    return Assemble();
  }

 private:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    std::string data;
  };

  template <typename T>
  static void Put(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  static void PutString(std::string& out, const std::string& s) {
    Put<uint64_t>(out, s.size());
    out += s;
  }
  bool Keep(const std::string& key) const { return !spec_.omit_keys.count(key); }
  void KvString(const std::string& key, const std::string& v) {
    if (!Keep(key)) return;
    std::string e;
    PutString(e, key);
    Put<uint32_t>(e, 8);
    PutString(e, v);
    kvs_.push_back(e);
  }
  void KvU32(const std::string& key, uint32_t v) {
    if (!Keep(key)) return;
    std::string e;
    PutString(e, key);
    Put<uint32_t>(e, 4);
    Put(e, v);
    kvs_.push_back(e);
  }
  void KvF32(const std::string& key, float v) {
    if (!Keep(key)) return;
    std::string e;
    PutString(e, key);
    Put<uint32_t>(e, 6);
    Put(e, v);
    kvs_.push_back(e);
  }
  // GGUF array of `count` elements of `type`, their bytes in `elems`.
  void KvArray(const std::string& key, uint32_t type, uint64_t count, const std::string& elems) {
    if (!Keep(key)) return;
    std::string e;
    PutString(e, key);
    Put<uint32_t>(e, 9);
    Put<uint32_t>(e, type);
    Put<uint64_t>(e, count);
    e += elems;
    kvs_.push_back(e);
  }
  void Tokenizer() {
    const int n = spec_.vocab;
    std::string tokens, scores, types;
    for (int i = 0; i < n; ++i) {
      std::string piece;
      int32_t type = 1;  // normal
      if (i < 3) {
        piece = i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>";
        type = i == 0 ? 2 : 3;  // unknown, control
      } else if (i < 259) {
        static const char* kHex = "0123456789ABCDEF";
        piece = std::string("<0x") + kHex[(i - 3) >> 4] + kHex[(i - 3) & 15] + ">";
        type = 6;  // byte
      } else {
        piece = "\xe2\x96\x81t" + std::to_string(i);  // "_t259" ...
      }
      PutString(tokens, piece);
      Put<float>(scores, -static_cast<float>(i));
      Put<int32_t>(types, type);
    }
    KvString("tokenizer.ggml.model", "llama");
    KvArray("tokenizer.ggml.tokens", 8, n, tokens);
    KvArray("tokenizer.ggml.scores", 6, n, scores);
    KvArray("tokenizer.ggml.token_type", 5, n, types);
    KvU32("tokenizer.ggml.unknown_token_id", 0);
    KvU32("tokenizer.ggml.bos_token_id", 1);
    KvU32("tokenizer.ggml.eos_token_id", 2);
  }
  std::vector<uint64_t> Dims(const std::string& name, std::vector<uint64_t> dims) const {
    auto it = spec_.shape_override.find(name);
    return it == spec_.shape_override.end() ? dims : it->second;
  }
  // {cols, rows}: Q8_0 blocks (fp16 0.004 + 32 random int8) or F32 N(0, 0.3 / sqrt(cols)).
  void Matrix(const std::string& name, uint64_t cols, uint64_t rows) {
    std::vector<uint64_t> dims = Dims(name, {cols, rows});
    const uint64_t n = dims[0] * dims[1];
    std::string data;
    if (spec_.q8_0) {
      std::uniform_int_distribution<int> q(-127, 127);
      for (uint64_t b = 0; b < n / 32; ++b) {
        Put<uint16_t>(data, 0x1c19);  // fp16 0.004
        for (int i = 0; i < 32; ++i) Put<int8_t>(data, static_cast<int8_t>(q(rng_)));
      }
    } else {
      std::normal_distribution<float> g(0.0f, 0.3f / std::sqrt(static_cast<float>(dims[0])));
      for (uint64_t i = 0; i < n; ++i) Put<float>(data, g(rng_));
    }
    tensors_.push_back({name, dims, spec_.q8_0 ? 8u : 0u, data});
  }
  void Vector(const std::string& name, uint64_t n, float center) {
    std::vector<uint64_t> dims = Dims(name, {n});
    std::uniform_real_distribution<float> u(-0.1f, 0.1f);
    std::string data;
    for (uint64_t i = 0; i < dims[0]; ++i) Put<float>(data, center + u(rng_));
    tensors_.push_back({name, dims, 0u, data});
  }
  std::string Assemble() {
    std::string out;
    Put<uint32_t>(out, 0x46554747);  // "GGUF"
    Put<uint32_t>(out, 3);
    Put<uint64_t>(out, tensors_.size());
    Put<uint64_t>(out, kvs_.size());
    for (const auto& kv : kvs_) out += kv;
    uint64_t offset = 0;
    for (const Tensor& t : tensors_) {
      PutString(out, t.name);
      Put<uint32_t>(out, t.dims.size());
      for (uint64_t d : t.dims) Put(out, d);
      Put(out, t.type);
      Put(out, offset);
      offset = (offset + t.data.size() + 31) / 32 * 32;
    }
    out.resize((out.size() + 31) / 32 * 32, '\0');
    for (const Tensor& t : tensors_) {
      out += t.data;
      out.resize((out.size() + 31) / 32 * 32, '\0');
    }
    return out;
  }

  TinyModelSpec spec_;
  std::mt19937 rng_;
  std::vector<std::string> kvs_;
  std::vector<Tensor> tensors_;
};

inline std::string BuildTinyModel(const TinyModelSpec& spec) {
  return TinyModelWriter(spec).Build();
}

}  // namespace hearth::engine::testing
