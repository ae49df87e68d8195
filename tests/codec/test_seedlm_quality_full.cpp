// The quality figures at full size, 4096 x 256 (label slow: about a minute on
// two cores). Same bounds as test_seedlm_quality.cpp.
#include <gtest/gtest.h>

#include <cstdio>

#include "seedlm_quality.h"

using namespace seedlm_quality;

TEST(SeedLMQualityFull, Gaussian4096x256) {
  const int64_t n = 4096 * 256;
  const auto w = gaussian(n, 0.02f, 21);
  const auto tiny = gaussian(n, 1e-4f, 21);
  const auto tern = ternary(n, 0.03f, 22);
  struct Row {
    const char* name;
    int C, P;
  };
  for (const Row& row : {Row{"C=8,P=3 (4-bit)", 8, 3}, Row{"C=8,P=4 (default)", 8, 4}, Row{"C=12,P=4 (3-bit)", 12, 4}}) {
    const Result a = round_trip(w, setting(row.C, row.P));
    const Result b = round_trip(tiny, setting(row.C, row.P));
    const Result c = round_trip(tern, setting(row.C, row.P));
    std::printf("%-18s bpw %.4f  rel error: N(0,0.02^2) %.4f  N(0,1e-4^2) %.4f  0.03*ternary %.4f\n", row.name,
                a.bits_per_weight, a.rel_error, b.rel_error, c.rel_error);
    EXPECT_NEAR(b.rel_error, a.rel_error, 0.01) << row.name;
    if (row.P == 3) {
      EXPECT_GT(a.rel_error, 0.10);
      EXPECT_LT(a.rel_error, 0.14);
    }
  }
}
