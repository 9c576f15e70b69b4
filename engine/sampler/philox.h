// Counter-based random numbers (Philox4x64-10, Salmon et al., SC'11): a pure function of
// (counter, key), so a request's draws depend only on its seed and its step index, never on
// which other requests share the batch, on call order, or on thread count.
#pragma once

#include <array>
#include <cstdint>

namespace hearth::sampler {

using PhiloxCounter = std::array<uint64_t, 4>;
using PhiloxKey = std::array<uint64_t, 2>;

// One Philox4x64-10 block: 256 random bits. Matches Random123's philox4x64_10 and NumPy's
// `Philox` bit generator (which increments its counter before each block).
PhiloxCounter Philox4x64(const PhiloxCounter& counter, const PhiloxKey& key);

// The uniform double in [0, 1) that request stream (seed, sample_index) uses for its
// `step`-th sampled token: the top 53 bits of the first word of block
// Philox4x64({step, sample_index, 0, 0}, {seed, kSamplerDomain}).
double UniformDraw(uint64_t seed, uint64_t sample_index, uint64_t step);

// SplitMix64's finalizer: a bijective 64-bit mix.
uint64_t Mix64(uint64_t x);

// A fresh seed for an unseeded request, from a process-wide source seeded by
// std::random_device once. Thread-safe.
uint64_t DrawGlobalSeed();

}  // namespace hearth::sampler
