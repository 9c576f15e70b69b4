// Non-x86 builds: no AVX2 kernels (AttentionUsesAvx2 is false there, so these never run).
#include <cstdlib>

#include "engine/cpu/attention.h"

namespace hearth::engine::cpu::internal {

void AttendTileAvx2(const AttentionTile&, AttentionScratch*) { std::abort(); }
void SiluMulAvx2(const float*, const float*, int64_t, float*) { std::abort(); }

}  // namespace hearth::engine::cpu::internal
