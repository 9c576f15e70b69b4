// Non-x86 builds: no AVX2/AVX-512/F16C kernels (AttentionUsesAvx2/Avx512 are false there and
// kv_storage.cc converts with the scalar FloatToHalf, so these never run).
#include <cstdlib>

#include "engine/cpu/attention.h"

namespace hearth::engine::cpu::internal {

void AttendTileAvx2(const AttentionTile&, AttentionScratch*) { std::abort(); }
void AttendTileAvx512(const AttentionTile&, AttentionScratch*) { std::abort(); }
void SiluMulAvx2(const float*, const float*, int64_t, float*) { std::abort(); }
void FloatToHalfRowF16c(const float*, int64_t, uint16_t*) { std::abort(); }

}  // namespace hearth::engine::cpu::internal
