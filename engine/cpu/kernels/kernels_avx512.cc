// The AVX-512 kernel table: the AVX-VNNI templates compiled with AVX-512 F/BW/VL/VNNI enabled
// (32 vector registers, EVEX encodings). Same arithmetic, so the same bits as avxvnni.
#include "engine/cpu/kernels/kernels_x86_k.h"

namespace hearth::engine::cpu::kern {

const KernelTable& Avx512Kernels() {
  static const KernelTable table = MakeX86Table<Lanes16>();
  return table;
}

}  // namespace hearth::engine::cpu::kern
