// Packed symmetric levels (codec/packed_levels.h): the digits a byte holds,
// a hand-worked byte, round trips for every max level, max level 1 equal to
// the base-3 trit packing, and corrupt bytes refused.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "codec/packed_levels.h"
#include "codec/ternary.h"
#include "common/error.h"
#include "test_util.h"

using namespace seedforge;

namespace {

std::vector<int8_t> random_levels(int64_t n, int max_level, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> d(-max_level, max_level);
  std::vector<int8_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<int8_t>(d(rng));
  return v;
}

}  // namespace

using test::error_of;

TEST(PackedLevels, DigitsPerByteAreTheMostThatFit) {
  // (2L + 1)^k <= 256 < (2L + 1)^(k + 1)
  EXPECT_EQ(levels_per_byte(1), 5);  // 243
  EXPECT_EQ(levels_per_byte(2), 3);  // 125
  for (int level = 3; level <= 7; ++level) EXPECT_EQ(levels_per_byte(level), 2) << level;  // 49 .. 225
  EXPECT_EQ(packed_levels_bytes(10, 2), 4);
  EXPECT_EQ(packed_levels_bytes(0, 7), 0);
  EXPECT_NE(error_of([] { levels_per_byte(0); }).find("max level"), std::string::npos);
  EXPECT_NE(error_of([] { levels_per_byte(8); }).find("max level"), std::string::npos);
}

// Max level 2 (base 5): -2 0 2 -> digits 0 2 4 -> 0 + 2*5 + 4*25 = 110; then
// +1 padded with two zeros (digit 2): 3 + 2*5 + 2*25 = 63.
TEST(PackedLevels, HandWorkedBase5) {
  const std::vector<int8_t> v = {-2, 0, 2, 1};
  EXPECT_EQ(pack_levels(v.data(), 4, 2), (std::vector<uint8_t>{110, 63}));
  // Max level 7 (base 15): -7 7 -> 0 + 14*15 = 210.
  const std::vector<int8_t> w = {-7, 7};
  EXPECT_EQ(pack_levels(w.data(), 2, 7), (std::vector<uint8_t>{210}));
}

TEST(PackedLevels, RoundTripsAtEveryMaxLevelAndLevelOneIsTheTritPacking) {
  for (int level = 1; level <= kMaxPackedLevel; ++level) {
    for (int64_t n : {0, 1, 2, 3, 5, 7, 1000, 4099}) {
      const auto v = random_levels(n, level, static_cast<uint64_t>(n * 8 + level));
      const auto packed = pack_levels(v.data(), n, level);
      ASSERT_EQ(static_cast<int64_t>(packed.size()), packed_levels_bytes(n, level));
      std::vector<int8_t> back(static_cast<size_t>(n), 99);
      unpack_levels(packed.data(), packed.size(), n, level, back.data());
      EXPECT_EQ(back, v) << "max level " << level << ", n " << n;
      if (level == 1) EXPECT_EQ(packed, pack_trits_base3(v.data(), n)) << n;
    }
  }
}

TEST(PackedLevels, OutOfRangeValuesAndCorruptBytesAreRefused) {
  const std::vector<int8_t> v = {0, 3};
  EXPECT_NE(error_of([&] { pack_levels(v.data(), 2, 2); }).find("index 1"), std::string::npos);
  std::vector<int8_t> out(4);
  const std::vector<uint8_t> too_big = {125};  // base 5, three digits: 124 at most
  EXPECT_NE(error_of([&] { unpack_levels(too_big.data(), 1, 3, 2, out.data()); }).find("exceeds 124"), std::string::npos);
  const std::vector<uint8_t> bad_pad = {2 + 0 * 5 + 2 * 25};  // one value (0), then a padding digit of -2
  EXPECT_NE(error_of([&] { unpack_levels(bad_pad.data(), 1, 1, 2, out.data()); }).find("padding"), std::string::npos);
  const std::vector<uint8_t> two = {62, 62};
  EXPECT_NE(error_of([&] { unpack_levels(two.data(), 2, 3, 2, out.data()); }).find("expected 1"), std::string::npos);
}
