// Fuzz target: the GGUF reader on arbitrary bytes (header, metadata of every type, tensor
// infos, alignment and offsets), then, for a file that parses, every typed getter on every key,
// the dequantizer of every tensor over its first rows, the model config and the tokenizer built
// from the metadata. Invariants: tensor data lies inside the image; a parsed tokenizer encodes.
#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/model/model_config.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/tokenizer_gguf.h"
#include "fuzz/fuzz_input.h"

using namespace hearth;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed =
      engine::GgufFile::FromBytes(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!parsed.ok()) return 0;
  const engine::GgufFile& file = **parsed;
  for (const auto& [key, value] : file.metadata()) {
    (void)engine::DescribeValue(value);
    (void)file.GetString(key);
    (void)file.GetUint(key);
    (void)file.GetInt(key);
    (void)file.GetFloat(key);
    (void)file.GetBool(key);
    (void)file.GetStringArray(key);
    (void)file.GetFloatArray(key);
    (void)file.GetIntArray(key);
  }
  const uint8_t* begin = file.bytes();
  const uint8_t* end = begin + file.size();
  std::vector<float> row;
  for (const engine::GgufTensor& t : file.tensors()) {
    fuzz::Check(t.traits != nullptr, "every tensor has traits");
    fuzz::Check(t.data >= begin && t.data <= end && t.num_bytes <= size_t(end - t.data),
                "tensor data inside the image");
    const int64_t cols = t.cols();
    if (!t.traits->supported() || cols <= 0 || cols > (1 << 20)) continue;
    const int64_t row_bytes = t.traits->RowBytes(cols);
    const int64_t rows = std::min<int64_t>(t.rows(), std::max<int64_t>(1, (1 << 16) / cols));
    row.resize(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      fuzz::Check(uint64_t((r + 1) * row_bytes) <= t.num_bytes, "row inside the tensor");
      t.traits->dequantize(t.data + r * row_bytes, row.data(), cols);
    }
  }
  (void)engine::ModelConfig::FromGguf(file);
  auto spec = engine::tokenizer::SpecFromGguf(file);
  if (spec.ok()) {
    auto tok = engine::tokenizer::Tokenizer::FromSpec(*std::move(spec));
    if (tok.ok()) {
      const std::vector<int32_t> ids =
          (*tok)->Encode("Hello, world! <s> 1234", {.add_special = true, .parse_special = true});
      for (int32_t id : ids) fuzz::Check(id >= 0 && id < (*tok)->vocab_size(), "id in vocab");
      (void)(*tok)->Decode(ids);
    }
  }
  return 0;
}
