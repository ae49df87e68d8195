// Packed ternary layouts (base 3, five a byte; 2 bit, four a byte) and absmean
// ternarization.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "codec/ternary.h"
#include "common/error.h"
#include "test_util.h"

using namespace seedforge;
using test::error_of;

namespace {

std::vector<int8_t> random_trits(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> d(-1, 1);
  std::vector<int8_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = static_cast<int8_t>(d(rng));
  return t;
}

}  // namespace

// (t + 1) digits 0 1 2 2 0 -> 0 + 1*3 + 2*9 + 2*27 + 0*81 = 75; then one trit
// +1 padded with four zero trits: 2 + 1*3 + 1*9 + 1*27 + 1*81 = 122.
TEST(TernaryPack, Base3HandWorked) {
  const std::vector<int8_t> t = {-1, 0, 1, 1, -1, 1};
  EXPECT_EQ(pack_trits_base3(t.data(), 6), (std::vector<uint8_t>{75, 122}));
  const std::vector<int8_t> all_plus(5, 1), all_minus(5, -1), all_zero(5, 0);
  EXPECT_EQ(pack_trits_base3(all_plus.data(), 5), (std::vector<uint8_t>{242}));
  EXPECT_EQ(pack_trits_base3(all_minus.data(), 5), (std::vector<uint8_t>{0}));
  EXPECT_EQ(pack_trits_base3(all_zero.data(), 5), (std::vector<uint8_t>{121}));
}

// codes t + 1 in bits 2i..2i+1: -1 0 1 1 -> 0 | 1<<2 | 2<<4 | 2<<6 = 0xA4; then +1 + three zero pads.
TEST(TernaryPack, TwoBitHandWorked) {
  const std::vector<int8_t> t = {-1, 0, 1, 1, 1};
  EXPECT_EQ(pack_trits_2bit(t.data(), 5), (std::vector<uint8_t>{0xA4, 0x56}));
}

TEST(TernaryPack, RoundTripsAndSizes) {
  for (int64_t n : {0, 1, 4, 5, 6, 9, 10, 11, 1000, 4099}) {
    const auto t = random_trits(n, static_cast<uint64_t>(n) + 1);
    const auto b3 = pack_trits_base3(t.data(), n);
    const auto b2 = pack_trits_2bit(t.data(), n);
    EXPECT_EQ(static_cast<int64_t>(b3.size()), (n + 4) / 5);
    EXPECT_EQ(static_cast<int64_t>(b2.size()), (n + 3) / 4);
    std::vector<int8_t> back3(static_cast<size_t>(n)), back2(static_cast<size_t>(n));
    unpack_trits_base3(b3.data(), b3.size(), n, back3.data());
    unpack_trits_2bit(b2.data(), b2.size(), n, back2.data());
    EXPECT_EQ(back3, t) << n;
    EXPECT_EQ(back2, t) << n;
  }
  // 1.6 bits per weight for five a byte, 2 for four a byte.
  EXPECT_DOUBLE_EQ(trits_base3_bytes(1000) * 8.0 / 1000, 1.6);
  EXPECT_DOUBLE_EQ(trits_2bit_bytes(1000) * 8.0 / 1000, 2.0);
}

TEST(TernaryPack, BadInput) {
  const std::vector<int8_t> bad = {0, 1, 2};
  EXPECT_NE(error_of([&] { pack_trits_base3(bad.data(), 3); }).find("index 2"), std::string::npos);
  EXPECT_NE(error_of([&] { pack_trits_2bit(bad.data(), 3); }).find("index 2"), std::string::npos);
  std::vector<int8_t> out(10);
  const std::vector<uint8_t> big = {243, 0};
  EXPECT_NE(error_of([&] { unpack_trits_base3(big.data(), 2, 10, out.data()); }).find("242"), std::string::npos);
  const std::vector<uint8_t> one = {121};
  EXPECT_NE(error_of([&] { unpack_trits_base3(one.data(), 1, 10, out.data()); }).find("expected 2"), std::string::npos);
  const std::vector<uint8_t> bad_pad = {0};  // five -1 trits, but only 3 are real
  EXPECT_NE(error_of([&] { unpack_trits_base3(bad_pad.data(), 1, 3, out.data()); }).find("padding"), std::string::npos);
  const std::vector<uint8_t> code3 = {0x03};
  EXPECT_NE(error_of([&] { unpack_trits_2bit(code3.data(), 1, 4, out.data()); }).find("code 3"), std::string::npos);
}

// Reference: W_q = clip(round(W / (mean|W| + eps)), -1, 1), scale = mean|W|,
// computed directly here.
TEST(Ternarize, AbsmeanPerTensorAndPerRow) {
  const int64_t rows = 7, cols = 33;
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> w(rows * cols);
  for (auto& x : w) x = normal(rng);
  for (int64_t c = 0; c < cols; ++c) w[3 * cols + c] *= 10.0f;  // one row much larger

  const TernaryTensor pt = ternarize_absmean(w.data(), rows, cols, TernaryScaleMode::kPerTensor, 1e-5f);
  double sum = 0.0;
  for (float x : w) sum += std::fabs(x);
  ASSERT_EQ(pt.scales.size(), 1u);
  EXPECT_NEAR(pt.scales[0], sum / (rows * cols), 1e-7);

  const TernaryTensor pr = ternarize_absmean(w.data(), rows, cols, TernaryScaleMode::kPerRow, 1e-5f);
  ASSERT_EQ(pr.scales.size(), static_cast<size_t>(rows));
  int nonzero = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double row_sum = 0.0;
    for (int64_t c = 0; c < cols; ++c) row_sum += std::fabs(w[r * cols + c]);
    const float gamma = static_cast<float>(row_sum / cols);
    EXPECT_FLOAT_EQ(pr.scales[r], gamma);
    for (int64_t c = 0; c < cols; ++c) {
      const float x = w[r * cols + c] / (gamma + 1e-5f);
      const int expect = x > 0.5f ? 1 : (x < -0.5f ? -1 : 0);  // no exact ties in this data
      EXPECT_EQ(pr.trits[r * cols + c], expect) << r << "," << c;
      nonzero += expect != 0;
    }
  }
  EXPECT_GT(nonzero, rows * cols / 3);
  // Dequantized: scale * trit.
  std::vector<float> deq(rows * cols);
  dequantize_ternary(pr, deq.data());
  for (int64_t i = 0; i < rows * cols; ++i) EXPECT_EQ(deq[i], pr.scales[i / cols] * pr.trits[i]);

  // Packed and unpacked, trits come back exactly.
  const auto packed = pack_trits_base3(pr.trits.data(), rows * cols);
  std::vector<int8_t> back(rows * cols);
  unpack_trits_base3(packed.data(), packed.size(), rows * cols, back.data());
  EXPECT_EQ(back, pr.trits);
}

// One scale per row and per run of 4 columns; 10 columns make runs of 4, 4
// and 2, so the last run's mean divides by 2, not 4.
TEST(Ternarize, AbsmeanPerRowColumnGroups) {
  const int64_t rows = 3, cols = 10, group = 4;
  std::mt19937_64 rng(11);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> w(rows * cols);
  for (auto& x : w) x = normal(rng);
  for (int64_t r = 0; r < rows; ++r) w[r * cols + 9] *= 20.0f;  // the short last run is much larger

  const TernaryScaleLayout layout(TernaryScaleMode::kPerRow, group);
  EXPECT_EQ(layout.groups_per_row(cols), 3);
  EXPECT_EQ(layout.scale_count(rows, cols), 9);
  EXPECT_EQ(layout.scale_index(2, 9, cols), 8);
  const TernaryTensor t = ternarize_absmean(w.data(), rows, cols, layout, 1e-5f);
  ASSERT_EQ(t.scales.size(), 9u);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < 3; ++g) {
      const int64_t c0 = g * group, c1 = std::min(cols, c0 + group);
      double sum = 0.0;
      for (int64_t c = c0; c < c1; ++c) sum += std::fabs(w[r * cols + c]);
      const float gamma = static_cast<float>(sum / double(c1 - c0));
      EXPECT_FLOAT_EQ(t.scales[r * 3 + g], gamma) << r << "," << g;
      for (int64_t c = c0; c < c1; ++c) {
        const float x = w[r * cols + c] / (gamma + 1e-5f);
        EXPECT_EQ(t.trits[r * cols + c], x > 0.5f ? 1 : (x < -0.5f ? -1 : 0)) << r << "," << c;
      }
    }
  }
  std::vector<float> deq(rows * cols);
  dequantize_ternary(t, deq.data());
  for (int64_t i = 0; i < rows * cols; ++i) EXPECT_EQ(deq[i], t.scales[(i / cols) * 3 + (i % cols) / group] * t.trits[i]);
  // The same gammas given back give the same trits.
  EXPECT_EQ(ternarize_with_gamma(w.data(), rows, cols, layout, t.scales).trits, t.trits);
  // Groups need per-row scales, and a count that matches.
  EXPECT_THROW(ternarize_absmean(w.data(), rows, cols, TernaryScaleLayout(TernaryScaleMode::kPerTensor, 4)), Error);
  EXPECT_THROW(ternarize_absmean(w.data(), rows, cols, TernaryScaleLayout(TernaryScaleMode::kPerRow, -1)), Error);
  EXPECT_THROW(ternarize_with_gamma(w.data(), rows, cols, layout, std::vector<float>(3, 1.0f)), Error);
}

// Ties round half to even, as torch.round in BitLinear: 0.5 -> 0, 1.5 -> 2 -> 1, -2.5 -> -2 -> -1.
TEST(Ternarize, GivenGammaAndTies) {
  const std::vector<float> w = {0.5f, -0.5f, 1.5f, -2.5f, 0.49f, 0.51f};
  const TernaryTensor t = ternarize_with_gamma(w.data(), 1, 6, TernaryScaleMode::kPerTensor, {1.0f}, 0.0f);
  EXPECT_EQ(t.trits, (std::vector<int8_t>{0, 0, 1, -1, 0, 1}));
  EXPECT_EQ(t.scales, (std::vector<float>{1.0f}));
  EXPECT_THROW(ternarize_with_gamma(w.data(), 2, 3, TernaryScaleMode::kPerRow, {1.0f}), Error);
}

TEST(Ternarize, EpsAndBadInput) {
  const std::vector<float> zeros(12, 0.0f);
  const TernaryTensor t = ternarize_absmean(zeros.data(), 3, 4, TernaryScaleMode::kPerRow, 0.0f);
  for (int8_t x : t.trits) EXPECT_EQ(x, 0);
  const TernaryTensor e = ternarize_absmean(zeros.data(), 3, 4, TernaryScaleMode::kPerTensor, 0.25f);
  EXPECT_EQ(e.scales[0], 0.0f);
  for (int8_t x : e.trits) EXPECT_EQ(x, 0);
  std::vector<float> w(12, 0.1f);
  w[7] = std::numeric_limits<float>::infinity();
  const std::string msg = error_of([&] { ternarize_absmean(w.data(), 3, 4, TernaryScaleMode::kPerRow, 1e-5f, "wq"); });
  EXPECT_NE(msg.find("'wq'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("row 1, column 3"), std::string::npos) << msg;
  EXPECT_THROW(ternarize_absmean(w.data(), -1, 4, TernaryScaleMode::kPerRow), Error);
  EXPECT_THROW(ternarize_absmean(zeros.data(), 3, 4, TernaryScaleMode::kPerRow, -1.0f), Error);
}
