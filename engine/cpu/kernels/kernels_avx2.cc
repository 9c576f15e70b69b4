// The AVX2 + FMA + F16C kernel table (this file is compiled with -mavx2 -mfma -mf16c).
#include "engine/cpu/kernels/kernels_x86_k.h"

namespace hearth::engine::cpu::kern {

const KernelTable& Avx2Kernels() {
  static const KernelTable table = MakeX86Table<Lanes8<false>>();
  return table;
}

}  // namespace hearth::engine::cpu::kern
