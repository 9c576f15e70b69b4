// Device-side block decoders shared by the dequantize and GEMV kernels (nvcc only).
//
// Every type is described by a small traits struct: kElems / kBytes per block and
// Group(block, g, w) which writes the 8 floats of elements 8g .. 8g+7 of the block (g <
// kElems / 8). The arithmetic mirrors engine/quant/dequantize_*.cc operation for operation with
// explicitly rounded intrinsics (__fmul_rn, __fadd_rn, __fsub_rn via MulRn/AddRn/SubRn), which nvcc
// never contracts into an FMA, so the floats are bit-identical to the CPU's. `block` may point to
// global or shared memory and needs no alignment (fields are read byte by byte).
//
// Everything is __host__ __device__: the host build (x86-64 SSE, which has no FMA to contract
// into) runs the same decoders in tests/engine/cuda/host_replay.cu (cuda_host_decode_test), which
// pins them to the CPU dequantizers on machines without a GPU.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "engine/cuda/dequantize.h"
#include "engine/quant/blocks.h"
#include "engine/quant/fp16.h"

namespace hearth::engine::cuda {

// Pin the offsets used below to the layouts of blocks.h.
static_assert(sizeof(BlockQ4_0) == 18 && offsetof(BlockQ4_0, qs) == 2);
static_assert(sizeof(BlockQ4_1) == 20 && offsetof(BlockQ4_1, m) == 2 &&
              offsetof(BlockQ4_1, qs) == 4);
static_assert(sizeof(BlockQ8_0) == 34 && offsetof(BlockQ8_0, qs) == 2);
static_assert(sizeof(BlockQ4_K) == 144 && offsetof(BlockQ4_K, dmin) == 2 &&
              offsetof(BlockQ4_K, scales) == 4 && offsetof(BlockQ4_K, qs) == 16);
static_assert(sizeof(BlockQ5_K) == 176 && offsetof(BlockQ5_K, scales) == 4 &&
              offsetof(BlockQ5_K, qh) == 16 && offsetof(BlockQ5_K, qs) == 48);
static_assert(sizeof(BlockQ6_K) == 210 && offsetof(BlockQ6_K, qh) == 128 &&
              offsetof(BlockQ6_K, scales) == 192 && offsetof(BlockQ6_K, d) == 208);

#define HEARTH_HD __host__ __device__ __forceinline__

// Correctly rounded float operations that are never fused into an FMA.
HEARTH_HD float MulRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
HEARTH_HD float AddRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
HEARTH_HD float SubRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

HEARTH_HD float LoadHalf(const uint8_t* p) {
  const unsigned short bits = static_cast<unsigned short>(p[0] | (p[1] << 8));
#ifdef __CUDA_ARCH__
  return __half2float(__ushort_as_half(bits));
#else
  return HalfToFloat(bits);
#endif
}

HEARTH_HD float LoadBF16(const uint8_t* p) {
  const unsigned short bits = static_cast<unsigned short>(p[0] | (p[1] << 8));
#ifdef __CUDA_ARCH__
  return __uint_as_float(static_cast<unsigned int>(bits) << 16);
#else
  return BFloat16ToFloat(bits);
#endif
}

// 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block (as UnpackScaleMinK4).
HEARTH_HD void ScaleMinK4(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

HEARTH_HD float LoadF32(const uint8_t* p) {
  const uint32_t bits = static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
                        (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
#ifdef __CUDA_ARCH__
  return __uint_as_float(bits);
#else
  float f;
  memcpy(&f, &bits, 4);
  return f;
#endif
}

// Plain types: a "block" is one group of 8 elements (kElems = 8); on disk each element is its
// own block (CudaBlockElems = 1).
struct DevF32 {
  static constexpr int kElems = 8, kBytes = 32;
  HEARTH_HD static void Group(const uint8_t* b, int /*g*/, float* w) {
#pragma unroll
    for (int i = 0; i < 8; ++i) w[i] = LoadF32(b + 4 * i);
  }
};

struct DevF16 {
  static constexpr int kElems = 8, kBytes = 16;
  HEARTH_HD static void Group(const uint8_t* b, int /*g*/, float* w) {
#pragma unroll
    for (int i = 0; i < 8; ++i) w[i] = LoadHalf(b + 2 * i);
  }
};

struct DevBF16 {
  static constexpr int kElems = 8, kBytes = 16;
  HEARTH_HD static void Group(const uint8_t* b, int /*g*/, float* w) {
#pragma unroll
    for (int i = 0; i < 8; ++i) w[i] = LoadBF16(b + 2 * i);
  }
};

// Q4_0 / Q4_1: group g covers qs[8*(g&1) ..] low nibbles (g < 2) or high nibbles (g >= 2).
struct DevQ4_0 {
  static constexpr int kElems = 32, kBytes = 18;
  HEARTH_HD static void Group(const uint8_t* b, int g, float* w) {
    const float d = LoadHalf(b);
    const uint8_t* qs = b + 2 + 8 * (g & 1);
    const int shift = 4 * (g >> 1);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      w[i] = MulRn(d, static_cast<float>(((qs[i] >> shift) & 0xF) - 8));
    }
  }
};

struct DevQ4_1 {
  static constexpr int kElems = 32, kBytes = 20;
  HEARTH_HD static void Group(const uint8_t* b, int g, float* w) {
    const float d = LoadHalf(b);
    const float m = LoadHalf(b + 2);
    const uint8_t* qs = b + 4 + 8 * (g & 1);
    const int shift = 4 * (g >> 1);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      w[i] = AddRn(MulRn(d, static_cast<float>((qs[i] >> shift) & 0xF)), m);
    }
  }
};

struct DevQ8_0 {
  static constexpr int kElems = 32, kBytes = 34;
  HEARTH_HD static void Group(const uint8_t* b, int g, float* w) {
    const float d = LoadHalf(b);
    const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2 + 8 * g);
#pragma unroll
    for (int i = 0; i < 8; ++i) w[i] = MulRn(static_cast<float>(qs[i]), d);
  }
};

// Q4_K: element e = 64c + 32h + l; a group of 8 stays inside one sub-block of 32.
struct DevQ4_K {
  static constexpr int kElems = 256, kBytes = 144;
  HEARTH_HD static void Group(const uint8_t* b, int g, float* w) {
    const int e0 = 8 * g, c = e0 / 64, h = (e0 / 32) % 2, l0 = e0 % 32;
    int sc, m;
    ScaleMinK4(b + 4, e0 / 32, &sc, &m);
    const float dsc = MulRn(LoadHalf(b), static_cast<float>(sc));
    const float dm = MulRn(LoadHalf(b + 2), static_cast<float>(m));
    const uint8_t* qs = b + 16 + 32 * c + l0;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int q = (qs[i] >> (4 * h)) & 0xF;
      w[i] = SubRn(MulRn(dsc, static_cast<float>(q)), dm);
    }
  }
};

// Q5_K: Q4_K plus bit 4 of element e from (qh[e % 32] >> (e / 32)) & 1.
struct DevQ5_K {
  static constexpr int kElems = 256, kBytes = 176;
  HEARTH_HD static void Group(const uint8_t* b, int g, float* w) {
    const int e0 = 8 * g, c = e0 / 64, h = (e0 / 32) % 2, l0 = e0 % 32;
    int sc, m;
    ScaleMinK4(b + 4, e0 / 32, &sc, &m);
    const float dsc = MulRn(LoadHalf(b), static_cast<float>(sc));
    const float dm = MulRn(LoadHalf(b + 2), static_cast<float>(m));
    const uint8_t* qh = b + 16 + l0;
    const uint8_t* qs = b + 48 + 32 * c + l0;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int low = (qs[i] >> (4 * h)) & 0xF;
      const int high = (qh[i] >> (e0 / 32)) & 1;
      w[i] = SubRn(MulRn(dsc, static_cast<float>(low | high << 4)), dm);
    }
  }
};

// Q6_K: element e = 128j + r; a group of 8 stays inside one sub-block of 16.
struct DevQ6_K {
  static constexpr int kElems = 256, kBytes = 210;
  HEARTH_HD static void Group(const uint8_t* b, int g, float* w) {
    const int e0 = 8 * g, j = e0 / 128, r0 = e0 % 128;
    const uint8_t* ql = b + 64 * j + r0 % 64;
    const uint8_t* qh = b + 128 + 32 * j + r0 % 32;
    const int lshift = 4 * (r0 / 64), hshift = 2 * (r0 / 32);
    const float dl =
        MulRn(LoadHalf(b + 208), static_cast<float>(static_cast<int8_t>(b[192 + e0 / 16])));
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int low = (ql[i] >> lshift) & 0xF;
      const int high = (qh[i] >> hshift) & 3;
      w[i] = MulRn(dl, static_cast<float>((low | high << 4) - 32));
    }
  }
};

// Calls f(Traits{}) for the traits of `type`; returns false for an unsupported type.
template <typename F>
__host__ bool DispatchCudaType(uint32_t type, F&& f) {
  switch (type) {
    case kCudaF32:
      f(DevF32{});
      return true;
    case kCudaF16:
      f(DevF16{});
      return true;
    case kCudaBF16:
      f(DevBF16{});
      return true;
    case kCudaQ4_0:
      f(DevQ4_0{});
      return true;
    case kCudaQ4_1:
      f(DevQ4_1{});
      return true;
    case kCudaQ8_0:
      f(DevQ8_0{});
      return true;
    case kCudaQ4_K:
      f(DevQ4_K{});
      return true;
    case kCudaQ5_K:
      f(DevQ5_K{});
      return true;
    case kCudaQ6_K:
      f(DevQ6_K{});
      return true;
    default:
      return false;
  }
}

}  // namespace hearth::engine::cuda
