#include "codec/lfsr.h"

#include "common/error.h"

namespace seedforge {

const std::vector<int>& lfsr_default_taps(int K) {
  // Found by searching tap sets in lexicographic order (two taps first, then
  // four) for period 2^K - 1 under the step in lfsr.h; tests/codec/test_lfsr.cpp
  // re-checks every period exhaustively.
  static const std::vector<std::vector<int>> table = {
      {0, 1},        // K=2
      {0, 1},        // K=3 (the paper's worked example)
      {0, 1},        // K=4
      {0, 2},        // K=5
      {0, 1},        // K=6
      {0, 1},        // K=7
      {0, 1, 2, 7},  // K=8
      {0, 4},        // K=9
      {0, 3},        // K=10
      {0, 2},        // K=11
      {0, 1, 2, 8},  // K=12
      {0, 1, 2, 5},  // K=13
      {0, 1, 2, 12}, // K=14
      {0, 1},        // K=15
      {0, 1, 3, 12}, // K=16 (the paper's taps)
      {0, 3},        // K=17
      {0, 7},        // K=18
      {0, 1, 2, 5},  // K=19
      {0, 3},        // K=20
      {0, 2},        // K=21
      {0, 1},        // K=22
      {0, 5},        // K=23
      {0, 1, 2, 7},  // K=24
  };
  if (K < kLfsrMinBits || K > kLfsrMaxBits) {
    throw usage_error("LFSR: K=", K, " is outside the tap table (K must be in [", kLfsrMinBits, ", ",
                      kLfsrMaxBits, "])");
  }
  return table[static_cast<size_t>(K - kLfsrMinBits)];
}

uint32_t lfsr_tap_mask(int K, const std::vector<int>& taps) {
  if (K < kLfsrMinBits || K > kLfsrMaxBits) {
    throw usage_error("LFSR: K=", K, " is outside [", kLfsrMinBits, ", ", kLfsrMaxBits, "]");
  }
  if (taps.empty()) throw usage_error("LFSR: empty tap list for K=", K);
  uint32_t mask = 0;
  for (int tap : taps) {
    if (tap < 0 || tap >= K) {
      throw usage_error("LFSR: tap ", tap, " is outside [0, ", K - 1, "] for K=", K);
    }
    const uint32_t bit = 1u << tap;
    if (mask & bit) throw usage_error("LFSR: tap ", tap, " listed twice");
    mask |= bit;
  }
  if (!(mask & 1u)) {
    throw usage_error("LFSR: taps must include bit 0 (otherwise the step is not invertible); got K=", K);
  }
  return mask;
}

uint64_t lfsr_period(int K, uint32_t tap_mask) {
  const uint64_t limit = uint64_t{1} << K;
  uint32_t state = 1;
  uint64_t steps = 0;
  do {
    state = lfsr_step(state, K, tap_mask);
    ++steps;
  } while (state != 1 && steps <= limit);
  return steps;
}

void lfsr_states(uint32_t seed, int K, uint32_t tap_mask, int64_t count, uint32_t* out) {
  uint32_t state = seed;
  for (int64_t i = 0; i < count; ++i) {
    state = lfsr_step(state, K, tap_mask);
    out[i] = state;
  }
}

}  // namespace seedforge
