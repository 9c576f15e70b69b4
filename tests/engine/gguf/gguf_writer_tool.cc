// gguf_writer_tool OUT.gguf
//
// Test tool: writes a GGUF with GgufWriter holding one metadata key of every value type (see
// test_gguf_writer_py.py for the expected values) and tensors of several types and ranks whose
// float source is x[i] = ((37 * i) % 41 - 20) / 8, exact in float32 (quantized with Hearth's
// quantizers), with general.alignment 64. Exit status 0 on success, 1 with the Status on stderr.
#include <iostream>
#include <vector>

#include "engine/gguf/gguf_writer.h"
#include "engine/quant/quantize.h"

namespace hearth::engine {
namespace {

int Main(const std::string& path) {
  using VT = GgufValueType;
  GgufWriter w;
  w.SetString("general.architecture", "test");
  w.SetUint32("general.alignment", 64);
  w.Set("t.u8", MakeGgufUint(VT::kUint8, 200));
  w.Set("t.i8", MakeGgufInt(VT::kInt8, -100));
  w.Set("t.u16", MakeGgufUint(VT::kUint16, 60000));
  w.Set("t.i16", MakeGgufInt(VT::kInt16, -30000));
  w.Set("t.u32", MakeGgufUint(VT::kUint32, 4000000000u));
  w.Set("t.i32", MakeGgufInt(VT::kInt32, -2000000000));
  w.Set("t.u64", MakeGgufUint(VT::kUint64, 18000000000000000000ull));
  w.Set("t.i64", MakeGgufInt(VT::kInt64, -9000000000000000000ll));
  w.SetFloat32("t.f32", 0.25f);
  w.Set("t.f64", MakeGgufFloat64(-1.0 / 3));
  w.SetBool("t.bool", true);
  w.SetString("t.str", "h\xc3\xa9llo \xe2\x9c\x93");
  w.Set("t.strs", MakeGgufStringArray({"a", "", "<|im_start|>"}));
  w.Set("t.f32s", MakeGgufFloat32Array({1.5f, -2.25f, 0.0f}));
  w.Set("t.i32s", MakeGgufInt32Array({-1, 0, 7}));
  w.Set("t.bools", MakeGgufArray(VT::kBool, {MakeGgufBool(false), MakeGgufBool(true)}));
  w.Set("t.u8s",
        MakeGgufArray(VT::kUint8, {MakeGgufUint(VT::kUint8, 1), MakeGgufUint(VT::kUint8, 255)}));
  const struct {
    const char* name;
    GgmlType type;
    std::vector<int64_t> shape;
  } tensors[] = {
      {"f32_1d", GgmlType::kF32, {7}},           {"f16_2d", GgmlType::kF16, {8, 3}},
      {"bf16_2d", GgmlType::kBF16, {4, 2}},      {"q8_0", GgmlType::kQ8_0, {64, 3}},
      {"q4_0", GgmlType::kQ4_0, {32, 2}},        {"q4_1", GgmlType::kQ4_1, {96, 1}},
      {"q4_k", GgmlType::kQ4_K, {256, 2}},       {"q5_k", GgmlType::kQ5_K, {512, 1}},
      {"q6_k_3d", GgmlType::kQ6_K, {256, 2, 3}},
  };
  for (const auto& t : tensors) {
    if (absl::Status st = w.AddTensor(t.name, t.type, t.shape); !st.ok()) {
      std::cerr << st << "\n";
      return 1;
    }
  }
  if (absl::Status st = w.Begin(path); !st.ok()) {
    std::cerr << st << "\n";
    return 1;
  }
  for (const auto& t : tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    std::vector<float> x(n);
    for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>((37 * i) % 41 - 20) / 8.0f;
    std::vector<uint8_t> q(GetTypeTraits(t.type).RowBytes(t.shape[0]) * (n / t.shape[0]));
    absl::Status st = QuantizeRows(t.type, x.data(), n / t.shape[0], t.shape[0], q.data());
    if (st.ok()) st = w.Write(q.data(), q.size());
    if (!st.ok()) {
      std::cerr << st << "\n";
      return 1;
    }
  }
  if (absl::Status st = w.Finish(); !st.ok()) {
    std::cerr << st << "\n";
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace hearth::engine

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: gguf_writer_tool OUT.gguf\n";
    return 2;
  }
  return hearth::engine::Main(argv[1]);
}
