// LFSR taps, periods and the SeedLM paper's worked basis example.
#include <gtest/gtest.h>

#include <vector>

#include "codec/lfsr.h"
#include "codec/seedlm_basis.h"
#include "common/error.h"
#include "seedlm_reference.h"

using namespace seedforge;

// Every table entry has period 2^K - 1, checked exhaustively (K=24: 16.7M
// steps) with the reference step; the visited states are also checked to be
// distinct, which the period alone implies only for a permutation.
TEST(Lfsr, DefaultTapsAreMaximalLength) {
  for (int K = kLfsrMinBits; K <= kLfsrMaxBits; ++K) {
    const std::vector<int>& taps = lfsr_default_taps(K);
    const uint64_t full = (uint64_t{1} << K) - 1;
    EXPECT_EQ(lfsr_period(K, lfsr_tap_mask(K, taps)), full) << "K=" << K;
    std::vector<bool> seen(size_t{1} << K, false);
    uint32_t s = 1;
    uint64_t steps = 0;
    do {
      ASSERT_FALSE(seen[s]) << "K=" << K << " revisits state " << s << " after " << steps << " steps";
      seen[s] = true;
      s = seedlm_ref::lfsr_step(s, K, taps);
      ++steps;
    } while (s != 1 && steps <= full);
    EXPECT_EQ(steps, full) << "K=" << K;
  }
}

TEST(Lfsr, PaperTaps) {
  EXPECT_EQ(lfsr_default_taps(16), (std::vector<int>{0, 1, 3, 12}));
  EXPECT_EQ(lfsr_default_taps(3), (std::vector<int>{0, 1}));
}

TEST(Lfsr, StepMatchesReference) {
  const std::vector<int> taps = lfsr_default_taps(16);
  const uint32_t mask = lfsr_tap_mask(16, taps);
  uint32_t a = 12345, b = 12345;
  for (int i = 0; i < 100000; ++i) {
    a = lfsr_step(a, 16, mask);
    b = seedlm_ref::lfsr_step(b, 16, taps);
    ASSERT_EQ(a, b) << "step " << i;
  }
}

// Paper: K=3, taps (0, 1), seed 4, C=4, P=2 gives V = [[2,5],[6,7],[3,1],[4,2]].
TEST(Lfsr, PaperWorkedExample) {
  uint32_t states[8];
  lfsr_states(4, 3, lfsr_tap_mask(3, {0, 1}), 8, states);
  const uint32_t expected[8] = {2, 5, 6, 7, 3, 1, 4, 2};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(states[i], expected[i]) << "V[" << i / 2 << "][" << i % 2 << "]";

  float U[8];
  seedlm_basis(3, lfsr_tap_mask(3, {0, 1}), 4, 2, 4, U);
  for (int i = 0; i < 8; ++i) EXPECT_FLOAT_EQ(U[i], (static_cast<float>(expected[i]) - 4.0f) / 3.0f) << i;
}

TEST(Lfsr, BadTapsAndBits) {
  EXPECT_THROW(lfsr_default_taps(1), Error);
  EXPECT_THROW(lfsr_default_taps(25), Error);
  EXPECT_THROW(lfsr_tap_mask(16, {}), Error);
  EXPECT_THROW(lfsr_tap_mask(16, {0, 16}), Error);
  EXPECT_THROW(lfsr_tap_mask(16, {0, 3, 3}), Error);
  EXPECT_THROW(lfsr_tap_mask(16, {1, 3}), Error);  // no bit 0
  try {
    lfsr_default_taps(30);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_NE(std::string(e.what()).find("K=30"), std::string::npos) << e.what();
  }
}
