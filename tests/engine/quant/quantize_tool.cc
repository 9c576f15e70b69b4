// quantize_tool TYPE COLS IN.f32 OUT.bin
//
// Test tool: quantizes the raw little-endian float32 rows of IN.f32 (COLS per row) to TYPE
// (a ggml type name: Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K, F16, BF16, F32) with Hearth's
// quantizers and writes the blocks to OUT.bin. Exit status 0 on success, 1 with a message.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/quant/ggml_type.h"
#include "engine/quant/quantize.h"

int main(int argc, char** argv) {
  using namespace hearth::engine;  // NOLINT
  if (argc != 5) {
    std::cerr << "usage: quantize_tool TYPE COLS IN.f32 OUT.bin\n";
    return 2;
  }
  const TypeTraits* traits = nullptr;
  for (const TypeTraits& t : AllTypeTraits()) {
    if (t.name == argv[1]) traits = &t;
  }
  if (traits == nullptr) {
    std::cerr << "unknown type " << argv[1] << "\n";
    return 1;
  }
  const int64_t cols = std::stoll(argv[2]);
  std::ifstream in(argv[3], std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const int64_t n = static_cast<int64_t>(bytes.size() / sizeof(float));
  if (cols <= 0 || n % cols != 0) {
    std::cerr << "input of " << n << " floats is not rows of " << cols << "\n";
    return 1;
  }
  std::vector<float> x(n);
  std::memcpy(x.data(), bytes.data(), n * sizeof(float));
  std::vector<uint8_t> out(traits->RowBytes(cols) * (n / cols));
  const absl::Status st = QuantizeRows(traits->type, x.data(), n / cols, cols, out.data());
  if (!st.ok()) {
    std::cerr << st << "\n";
    return 1;
  }
  std::ofstream(argv[4], std::ios::binary)
      .write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
  return 0;
}
