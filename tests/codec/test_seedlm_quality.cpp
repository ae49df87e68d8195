// SeedLM reconstruction quality, exhaustive K=16, on N(0, sd^2) weights
// (256 x 256 here; test_codec_seedlm_quality_full runs 4096 x 256).
// Reference: an independent reproduction of the paper reports a relative
// Frobenius error of 0.123 for C=8, P=3 on N(0, 0.02^2) weights.
#include <gtest/gtest.h>

#include <cstdio>

#include "seedlm_quality.h"

using namespace seedlm_quality;

namespace {
constexpr int64_t kRows = 256, kCols = 256;
}

TEST(SeedLMQuality, PaperSettingsOnGaussianWeights) {
  const auto w = gaussian(kRows * kCols, 0.02f, 11);
  const Result r43 = round_trip(w, setting(8, 3));
  const Result r45 = round_trip(w, setting(8, 4));
  const Result r30 = round_trip(w, setting(12, 4));
  std::printf("N(0,0.02^2) %lldx%lld: C=8,P=3 %.4f (%.4f bpw)  C=8,P=4 %.4f (%.4f bpw)  C=12,P=4 %.4f (%.4f bpw)\n",
              static_cast<long long>(kRows), static_cast<long long>(kCols), r43.rel_error, r43.bits_per_weight,
              r45.rel_error, r45.bits_per_weight, r30.rel_error, r30.bits_per_weight);
  EXPECT_GT(r43.rel_error, 0.10);
  EXPECT_LT(r43.rel_error, 0.14);
  EXPECT_GT(r45.rel_error, 0.06);
  EXPECT_LT(r45.rel_error, 0.10);
  EXPECT_GT(r30.rel_error, 0.20);
  EXPECT_LT(r30.rel_error, 0.30);
  // More bits per weight, less error.
  EXPECT_LT(r45.rel_error, r43.rel_error);
  EXPECT_LT(r43.rel_error, r30.rel_error);
  // Bits per weight measured from the stream: (K + E + P*Q) / C.
  EXPECT_DOUBLE_EQ(r43.bits_per_weight, 4.0);
  EXPECT_DOUBLE_EQ(r45.bits_per_weight, 4.5);
  EXPECT_NEAR(r30.bits_per_weight, 3.0, 1e-3);  // 65536 is not a multiple of 12
}

// Tiny weights keep the same relative error: the per-tensor scale follows them.
TEST(SeedLMQuality, TinyWeightsDoNotCollapse) {
  const auto big = gaussian(kRows * kCols, 0.02f, 12);
  const auto tiny = gaussian(kRows * kCols, 1e-4f, 12);
  const Result a = round_trip(big, setting(8, 3));
  const Result b = round_trip(tiny, setting(8, 3));
  std::printf("C=8,P=3: std 0.02 %.4f, std 1e-4 %.4f\n", a.rel_error, b.rel_error);
  EXPECT_LT(b.rel_error, 0.14);
  EXPECT_NEAR(b.rel_error, a.rel_error, 0.01);
  const auto tiniest = gaussian(4096, 1e-30f, 13);
  EXPECT_LT(round_trip(tiniest, setting(8, 3)).rel_error, 0.2);
}

TEST(SeedLMQuality, TernaryTimesScale) {
  const auto w = ternary(kRows * kCols, 0.03f, 14);
  const Result r43 = round_trip(w, setting(8, 3));
  const Result r45 = round_trip(w, setting(8, 4));
  std::printf("0.03 * ternary: C=8,P=3 %.4f  C=8,P=4 %.4f\n", r43.rel_error, r45.rel_error);
  EXPECT_LT(r45.rel_error, r43.rel_error);
  EXPECT_GT(r43.rel_error, 0.05);
  EXPECT_LT(r43.rel_error, 0.30);
}
