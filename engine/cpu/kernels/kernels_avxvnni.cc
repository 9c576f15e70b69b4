// The AVX-VNNI kernel table (compiled with -mavx2 -mfma -mf16c -mavxvnni): dpbusd replaces
// maddubs + madd in the 32-element kernels; results equal the AVX2 table's bit for bit.
#include "engine/cpu/kernels/kernels_x86_k.h"

namespace hearth::engine::cpu::kern {

const KernelTable& AvxVnniKernels() {
  static const KernelTable table = MakeX86Table<Lanes8<true>>();
  return table;
}

}  // namespace hearth::engine::cpu::kern
