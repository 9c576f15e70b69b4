// The F16C float -> fp16 conversion of kv_storage.h (compiled with -mavx -mf16c; called only
// when the CPU has them).
#include <immintrin.h>

#include <cstring>

#include "engine/cpu/kv_storage.h"

namespace hearth::engine::cpu::internal {

void FloatToHalfRowF16c(const float* src, int64_t n, uint16_t* dst) {
  constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), kRound));
  }
  if (i < n) {  // the tail through an 8-lane buffer: same instruction, same bits
    float in[8] = {};
    uint16_t out[8];
    std::memcpy(in, src + i, (n - i) * sizeof(float));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_cvtps_ph(_mm256_loadu_ps(in), kRound));
    std::memcpy(dst + i, out, (n - i) * sizeof(uint16_t));
  }
}

}  // namespace hearth::engine::cpu::internal
