#include "engine/sampler/philox.h"

#include <atomic>
#include <random>

namespace hearth::sampler {
namespace {

constexpr uint64_t kM0 = 0xD2E7470EE14C6C93ull;
constexpr uint64_t kM1 = 0xCA5A826395121157ull;
constexpr uint64_t kW0 = 0x9E3779B97F4A7C15ull;  // Golden ratio.
constexpr uint64_t kW1 = 0xBB67AE8584CAA73Bull;  // sqrt(3) - 1.
// Second key word: separates the sampler's streams from any other Philox user.
constexpr uint64_t kSamplerDomain = 0x4865617274685350ull;  // "HearthSP"

inline void MulHiLo(uint64_t a, uint64_t b, uint64_t* hi, uint64_t* lo) {
  const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  *hi = static_cast<uint64_t>(p >> 64);
  *lo = static_cast<uint64_t>(p);
}

}  // namespace

PhiloxCounter Philox4x64(const PhiloxCounter& counter, const PhiloxKey& key) {
  PhiloxCounter c = counter;
  uint64_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    uint64_t hi0, lo0, hi1, lo1;
    MulHiLo(kM0, c[0], &hi0, &lo0);
    MulHiLo(kM1, c[2], &hi1, &lo1);
    c = {hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0};
    k0 += kW0;
    k1 += kW1;
  }
  return c;
}

double UniformDraw(uint64_t seed, uint64_t sample_index, uint64_t step) {
  const PhiloxCounter block = Philox4x64({step, sample_index, 0, 0}, {seed, kSamplerDomain});
  return static_cast<double>(block[0] >> 11) * 0x1.0p-53;
}

uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

uint64_t DrawGlobalSeed() {
  static std::atomic<uint64_t> state{[] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }()};
  return Mix64(state.fetch_add(kW0, std::memory_order_relaxed) + kW0);
}

}  // namespace hearth::sampler
