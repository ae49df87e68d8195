// SeedLM tensor codec: the bitstream layout, round trips, determinism, the
// per-tensor scale, progress reporting and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "codec/lfsr.h"
#include "codec/seedlm_codec.h"
#include "common/error.h"
#include "test_util.h"
#include "seedlm_reference.h"

using namespace seedforge;
using test::error_of;

namespace {

std::vector<float> gaussian(int64_t n, float sd, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, sd);
  std::vector<float> w(static_cast<size_t>(n));
  for (auto& x : w) x = normal(rng);
  return w;
}

// An independent reader of the documented layout: bit i is bit i%8 of byte i/8.
struct StreamReader {
  const std::vector<uint8_t>& bytes;
  int64_t pos = 0;
  uint32_t bits(int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; ++i, ++pos) v |= static_cast<uint32_t>((bytes.at(static_cast<size_t>(pos / 8)) >> (pos % 8)) & 1) << i;
    return v;
  }
  int sbits(int n) {
    const uint32_t v = bits(n);
    return (v >> (n - 1)) & 1 ? static_cast<int>(v) - (1 << n) : static_cast<int>(v);
  }
};

}  // namespace

// Two blocks with K=4, E=2, Q=2, P=2 (10 bits each) written by hand:
// block 0: seed 9 = 1001b, e = -1 = 11b, q = (1, -2) = (01b, 10b)
// block 1: seed 6 = 0110b, e = 1 = 01b,  q = (-1, 0) = (11b, 00b)
// LSB first: 1001 11 10 01 | 0110 10 11 00 -> bytes 0x79 0x5A 0x03.
TEST(SeedLMStream, HandWrittenLayout) {
  SeedLMParams p;
  p.K = 4;
  p.C = 2;
  p.P = 2;
  p.Q = 2;
  p.E = 2;
  p.validate();
  SeedLMBlockCode codes[2];
  codes[0].seed = 9;
  codes[0].exponent = -1;
  codes[0].q[0] = 1;
  codes[0].q[1] = -2;
  codes[1].seed = 6;
  codes[1].exponent = 1;
  codes[1].q[0] = -1;
  codes[1].q[1] = 0;
  const std::vector<uint8_t> bytes = seedlm_pack_blocks(codes, 2, p);
  EXPECT_EQ(bytes, (std::vector<uint8_t>{0x79, 0x5A, 0x03}));
  const auto back = seedlm_unpack_blocks(bytes.data(), bytes.size(), 2, p);
  for (int b = 0; b < 2; ++b) {
    EXPECT_EQ(back[b].seed, codes[b].seed);
    EXPECT_EQ(back[b].exponent, codes[b].exponent);
    EXPECT_EQ(back[b].q[0], codes[b].q[0]);
    EXPECT_EQ(back[b].q[1], codes[b].q[1]);
  }
}

TEST(SeedLMStream, RandomCodesRoundTrip) {
  for (auto [C, P, Q, E, K] : std::vector<std::tuple<int, int, int, int, int>>{
           {8, 4, 4, 4, 16}, {8, 3, 4, 4, 16}, {12, 4, 4, 4, 16}, {16, 7, 3, 5, 13}, {4, 2, 8, 8, 24}, {5, 3, 2, 2, 7}}) {
    SeedLMParams p;
    p.C = C, p.P = P, p.Q = Q, p.E = E, p.K = K;
    p.validate();
    std::mt19937 rng(static_cast<unsigned>(C * 1000 + P));
    const int64_t n = 37;
    std::vector<SeedLMBlockCode> codes(n);
    for (auto& c : codes) {
      c.seed = std::uniform_int_distribution<uint32_t>(1, static_cast<uint32_t>(p.seed_count()))(rng);
      c.exponent = std::uniform_int_distribution<int>(p.exponent_min(), p.exponent_max())(rng);
      for (int i = 0; i < P; ++i) c.q[i] = static_cast<int8_t>(std::uniform_int_distribution<int>(p.mantissa_min(), p.mantissa_max())(rng));
    }
    const auto bytes = seedlm_pack_blocks(codes.data(), n, p);
    EXPECT_EQ(static_cast<int64_t>(bytes.size()), (n * p.bits_per_block() + 7) / 8);
    StreamReader reader{bytes};
    const auto back = seedlm_unpack_blocks(bytes.data(), bytes.size(), n, p);
    for (int64_t b = 0; b < n; ++b) {
      EXPECT_EQ(reader.bits(K), codes[b].seed);
      EXPECT_EQ(reader.sbits(E), codes[b].exponent);
      for (int i = 0; i < P; ++i) EXPECT_EQ(reader.sbits(Q), codes[b].q[i]);
      EXPECT_EQ(back[b].seed, codes[b].seed);
      EXPECT_EQ(back[b].exponent, codes[b].exponent);
      for (int i = 0; i < P; ++i) EXPECT_EQ(back[b].q[i], codes[b].q[i]);
    }
    // The stream ends on a whole byte with zero padding bits.
    while (reader.pos < static_cast<int64_t>(bytes.size()) * 8) EXPECT_EQ(reader.bits(1), 0u);
  }
}

// Decoding the stream with the reference basis gives the same floats, bit for
// bit, as seedlm_decode; decoding is deterministic.
TEST(SeedLMCodec, DecodeMatchesIndependentDecoder) {
  SeedLMParams p;
  p.K = 12;
  const int64_t n = 1000;  // not a multiple of C: the last block is padded
  const auto w = gaussian(n, 0.02f, 1);
  const SeedLMTensor t = seedlm_encode(w.data(), n, p);
  EXPECT_EQ(t.n_values, n);
  EXPECT_EQ(static_cast<int64_t>(t.bits.size()), seedlm_stream_bytes(n, p));
  std::vector<float> out(n), again(n);
  seedlm_decode(t, p, out.data());
  seedlm_decode(t, p, again.data());
  StreamReader reader{t.bits};
  const std::vector<int> taps = lfsr_default_taps(p.K);
  for (int64_t b = 0; b * p.C < n; ++b) {
    const uint32_t seed = reader.bits(p.K);
    const int e = reader.sbits(p.E);
    int q[kSeedLMMaxP];
    for (int i = 0; i < p.P; ++i) q[i] = reader.sbits(p.Q);
    const std::vector<float> U = seedlm_ref::basis(p.K, taps, p.C, p.P, seed);
    for (int j = 0; j < p.C && b * p.C + j < n; ++j) {
      double r = 0.0;
      for (int i = 0; i < p.P; ++i) r += static_cast<double>(U[j * p.P + i]) * (q[i] * std::pow(2.0, e));
      const float expected = static_cast<float>(static_cast<double>(t.scale) * r);
      ASSERT_EQ(out[b * p.C + j], expected) << "value " << b * p.C + j;
      ASSERT_EQ(std::memcmp(&out[b * p.C + j], &again[b * p.C + j], sizeof(float)), 0);
    }
  }
}

TEST(SeedLMCodec, DecodeRangeGivesTheSameBitsAsAFullDecode) {
  // What the inference engine's embedding lookup uses: any range, starting
  // and ending mid-block, equals the full decode bit for bit.
  SeedLMParams p;
  p.K = 12;
  const int64_t n = 1003;
  const auto w = gaussian(n, 0.02f, 4);
  const SeedLMTensor t = seedlm_encode(w.data(), n, p);
  std::vector<float> full(n);
  seedlm_decode(t, p, full.data());
  for (const auto& [begin, end] : std::vector<std::pair<int64_t, int64_t>>{{0, n}, {0, 1}, {5, 13}, {8, 16}, {997, 1003}, {300, 300}, {1, 1002}}) {
    std::vector<float> part(static_cast<size_t>(end - begin) + 1, -7.0f);
    seedlm_decode_range(t.bits.data(), t.bits.size(), n, t.scale, p, begin, end, part.data());
    for (int64_t i = begin; i < end; ++i) ASSERT_EQ(std::memcmp(&part[i - begin], &full[i], sizeof(float)), 0) << i;
    EXPECT_EQ(part[static_cast<size_t>(end - begin)], -7.0f);  // nothing written past the range
  }
  std::vector<float> out(4);
  EXPECT_THROW(seedlm_decode_range(t.bits.data(), t.bits.size(), n, t.scale, p, 1000, 1004, out.data()), Error);
  EXPECT_THROW(seedlm_decode_range(t.bits.data(), t.bits.size() - 1, n, t.scale, p, 0, 4, out.data()), Error);
}

TEST(SeedLMCodec, SameBitsForAnyThreadCount) {
  SeedLMParams p;
  p.K = 12;
  const int64_t n = 4096;
  const auto w = gaussian(n, 0.02f, 2);
  p.threads = 1;
  const SeedLMTensor a = seedlm_encode(w.data(), n, p);
  p.threads = 2;
  const SeedLMTensor b = seedlm_encode(w.data(), n, p);
  p.threads = 5;
  const SeedLMTensor c = seedlm_encode(w.data(), n, p);
  EXPECT_EQ(a.bits, b.bits);
  EXPECT_EQ(a.bits, c.bits);
  EXPECT_EQ(a.scale, b.scale);
}

TEST(SeedLMCodec, ScaleFollowsTheLargestWeight) {
  SeedLMParams p;
  const std::vector<float> w = {0.5f, -2.0f, 1.0f};
  // E=4, Q=4: the largest |w| maps to 7.5 * 2^3 = 60.
  EXPECT_FLOAT_EQ(seedlm_tensor_scale(w.data(), 3, p), 2.0f / 60.0f);
  p.E = 2;  // e_top = min(3, 1 - 0) = 1: 15
  EXPECT_FLOAT_EQ(seedlm_tensor_scale(w.data(), 3, p), 2.0f / 15.0f);
  const std::vector<float> zeros(10, 0.0f);
  EXPECT_EQ(seedlm_tensor_scale(zeros.data(), 10, p), 1.0f);
}

TEST(SeedLMCodec, ZeroAndEmptyTensors) {
  SeedLMParams p;
  p.K = 10;
  const std::vector<float> zeros(37, 0.0f);
  const SeedLMTensor t = seedlm_encode(zeros.data(), 37, p);
  std::vector<float> out(37, 1.0f);
  seedlm_decode(t, p, out.data());
  for (float x : out) EXPECT_EQ(x, 0.0f);
  const SeedLMTensor empty = seedlm_encode(nullptr, 0, p);
  EXPECT_TRUE(empty.bits.empty());
  seedlm_decode(empty, p, nullptr);
}

TEST(SeedLMCodec, ProgressOnTheCallingThread) {
  SeedLMParams p;
  p.K = 14;
  p.threads = 2;
  const int64_t n = 8 * 3000;
  const auto w = gaussian(n, 0.02f, 3);
  std::vector<std::pair<int64_t, int64_t>> calls;
  bool same_thread = true;
  const auto caller = std::this_thread::get_id();
  SeedLMEncodeOptions options;
  options.progress = [&](int64_t done, int64_t total) {
    calls.emplace_back(done, total);
    same_thread = same_thread && std::this_thread::get_id() == caller;
  };
  seedlm_encode(w.data(), n, p, options);
  ASSERT_FALSE(calls.empty());
  EXPECT_TRUE(same_thread);
  EXPECT_EQ(calls.back(), std::make_pair(int64_t{3000}, int64_t{3000}));
  for (size_t i = 1; i < calls.size(); ++i) EXPECT_LE(calls[i - 1].first, calls[i].first);
}

TEST(SeedLMCodec, BadParameters) {
  auto bad = [](auto change) {
    SeedLMParams p;
    change(p);
    return error_of([&] { p.validate(); });
  };
  EXPECT_NE(bad([](SeedLMParams& p) { p.K = 3, p.C = 4, p.P = 2; }).find("period"), std::string::npos);
  EXPECT_NE(bad([](SeedLMParams& p) { p.K = 25; }).find("K=25"), std::string::npos);
  EXPECT_NE(bad([](SeedLMParams& p) { p.K = 1; }).find("K=1"), std::string::npos);
  EXPECT_NE(bad([](SeedLMParams& p) { p.Q = 1; }).find("Q=1"), std::string::npos);
  EXPECT_NE(bad([](SeedLMParams& p) { p.Q = 9; }).find("Q=9"), std::string::npos);
  EXPECT_NE(bad([](SeedLMParams& p) { p.E = 1; }).find("E=1"), std::string::npos);
  EXPECT_NE(bad([](SeedLMParams& p) { p.E = 9; }).find("E=9"), std::string::npos);
  EXPECT_NE(bad([](SeedLMParams& p) { p.P = 9; }).find("P=9"), std::string::npos);
  EXPECT_NE(bad([](SeedLMParams& p) { p.C = 0; }).find("C=0"), std::string::npos);
  EXPECT_NE(bad([](SeedLMParams& p) { p.seed_candidates = 70000; }).find("seed_candidates"), std::string::npos);
  EXPECT_NE(bad([](SeedLMParams& p) { p.threads = -1; }).find("threads"), std::string::npos);
  ASSERT_NE(lfsr_period(4, lfsr_tap_mask(4, {0, 2})), 15u);  // not maximal
  EXPECT_NE(bad([](SeedLMParams& p) { p.K = 4, p.C = 2, p.P = 2, p.taps = {0, 2}; }).find("maximal"), std::string::npos);
  // encode checks the parameters too, as usage errors.
  SeedLMParams p;
  p.Q = 12;
  const std::vector<float> w(8, 1.0f);
  try {
    seedlm_encode(w.data(), 8, p);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
  }
}

TEST(SeedLMCodec, NonFiniteWeights) {
  SeedLMParams p;
  p.K = 8;
  std::vector<float> w(20, 0.01f);
  SeedLMEncodeOptions options;
  options.name = "layers.0.wq";
  w[5] = std::numeric_limits<float>::quiet_NaN();
  std::string msg = error_of([&] { seedlm_encode(w.data(), 20, p, options); });
  EXPECT_NE(msg.find("layers.0.wq"), std::string::npos) << msg;
  EXPECT_NE(msg.find("value 5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("NaN"), std::string::npos) << msg;
  w[5] = 0.0f;
  w[17] = -std::numeric_limits<float>::infinity();
  msg = error_of([&] { seedlm_encode(w.data(), 20, p, options); });
  EXPECT_NE(msg.find("value 17"), std::string::npos) << msg;
  EXPECT_NE(msg.find("-Inf"), std::string::npos) << msg;
}

TEST(SeedLMCodec, CorruptStreams) {
  SeedLMParams p;
  p.K = 10;
  const auto w = gaussian(64, 1.0f, 4);
  SeedLMTensor t = seedlm_encode(w.data(), 64, p);
  std::vector<float> out(64);
  SeedLMTensor truncated = t;
  truncated.bits.pop_back();
  EXPECT_NE(error_of([&] { seedlm_decode(truncated, p, out.data()); }).find("expected"), std::string::npos);
  SeedLMTensor zero_seed = t;
  zero_seed.bits[0] = 0;
  zero_seed.bits[1] &= 0xFC;  // the first block's 10 seed bits are now 0
  EXPECT_NE(error_of([&] { seedlm_decode(zero_seed, p, out.data()); }).find("seed 0"), std::string::npos);
  SeedLMTensor bad_scale = t;
  bad_scale.scale = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(error_of([&] { seedlm_decode(bad_scale, p, out.data()); }).find("scale"), std::string::npos);
  SeedLMParams other = p;
  other.P = 3;  // decoding with different parameters: wrong stream size
  EXPECT_NE(error_of([&] { seedlm_decode(t, other, out.data()); }).find("expected"), std::string::npos);
}
