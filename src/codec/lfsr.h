// Fibonacci LFSR used by SeedLM to generate pseudo-random bases.
//
// State: K bits, s in [1, 2^K - 1] (0 is the fixed point and never used).
// One step: b = XOR of the state bits at the tap positions (bit 0 = least
// significant), then s = (s >> 1) | (b << (K - 1)). With maximal-length taps
// the states visited from any seed form one cycle of period 2^K - 1.
#pragma once

#include <cstdint>
#include <vector>

namespace seedforge {

constexpr int kLfsrMinBits = 2;
constexpr int kLfsrMaxBits = 24;

// Maximal-length taps for K in [kLfsrMinBits, kLfsrMaxBits]: the lexicographically
// first tap set containing bit 0 with two taps, else four (K=16 gives the
// paper's (0, 1, 3, 12)). Throws usage_error for K outside the table.
const std::vector<int>& lfsr_default_taps(int K);

// Bit mask of the taps; throws usage_error on taps outside [0, K-1], duplicates,
// or a tap set without bit 0 (the shifted-out bit must feed back, else the map
// is not invertible and seeds would merge).
uint32_t lfsr_tap_mask(int K, const std::vector<int>& taps);

inline uint32_t lfsr_step(uint32_t state, int K, uint32_t tap_mask) {
  const uint32_t bit = static_cast<uint32_t>(__builtin_popcount(state & tap_mask)) & 1u;
  return (state >> 1) | (bit << (K - 1));
}

// Number of steps until the LFSR started at state 1 returns to 1 (at most 2^K:
// the cycle through 1 is at most 2^K - 1 long). O(2^K).
uint64_t lfsr_period(int K, uint32_t tap_mask);

// The `count` states after `seed`: out[i] = step^(i+1)(seed).
void lfsr_states(uint32_t seed, int K, uint32_t tap_mask, int64_t count, uint32_t* out);

}  // namespace seedforge
