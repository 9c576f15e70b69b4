// Non-x86 builds: the SIMD tables are the scalar ones (CpuKernelPathSupported reports false).
#include "engine/cpu/kernels/kernels.h"

namespace hearth::engine::cpu::kern {

const KernelTable& Avx2Kernels() { return ScalarKernels(); }
const KernelTable& AvxVnniKernels() { return ScalarKernels(); }
const KernelTable& Avx512Kernels() { return ScalarKernels(); }
const KernelTable& Avx2F32ActKernels() { return ScalarF32ActKernels(); }

}  // namespace hearth::engine::cpu::kern
