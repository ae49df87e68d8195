// Cross-checks of the codec formats against an independent Python reader
// (tests/python/codec_reference.py, numpy and Debian's python3-torch): the
// SeedLM stream decoded in Python matches seedlm_decode bit for bit, and the
// ternarization matches torch's BitLinear weight quantization.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "codec/lfsr.h"
#include "codec/seedlm_codec.h"
#include "codec/ternary.h"

using namespace seedforge;

namespace {

std::string scratch_dir() {
  std::string dir = std::string(SEEDFORGE_BINARY_DIR) + "/test_scratch/codec_python_" + std::to_string(getpid());
  const std::string cmd = "mkdir -p '" + dir + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return dir;
}

template <typename T>
void write_raw(const std::string& path, const std::vector<T>& v) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
}

template <typename T>
std::vector<T> read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  std::vector<T> v(s.size() / sizeof(T));
  std::memcpy(v.data(), s.data(), v.size() * sizeof(T));
  return v;
}

}  // namespace

TEST(CodecPython, SeedLMStreamAndTernaryMatchPython) {
  const std::string dir = scratch_dir();

  // SeedLM: default parameters, 1000 values (the last block padded).
  SeedLMParams p;
  p.threads = 2;
  const int64_t n = 1000;
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> w(n);
  for (auto& x : w) x = normal(rng);
  const SeedLMTensor t = seedlm_encode(w.data(), n, p);
  std::vector<float> decoded(n);
  seedlm_decode(t, p, decoded.data());
  {
    uint32_t scale_bits;
    std::memcpy(&scale_bits, &t.scale, 4);
    char hex[9];
    // Little-endian bytes of the fp32 scale, as Python's struct.unpack("<f") reads them.
    std::snprintf(hex, sizeof hex, "%02x%02x%02x%02x", scale_bits & 0xff, (scale_bits >> 8) & 0xff,
                  (scale_bits >> 16) & 0xff, scale_bits >> 24);
    std::ofstream out(dir + "/seedlm.txt");
    out << p.K << " " << p.C << " " << p.P << " " << p.Q << " " << p.E << " " << n << " " << hex;
    for (int tap : lfsr_default_taps(p.K)) out << " " << tap;
    out << "\n";
  }
  write_raw(dir + "/seedlm.bin", t.bits);
  write_raw(dir + "/decoded.f32", decoded);

  // Ternary: a 64 x 48 matrix; column groups of 20 (runs of 20, 20 and 8).
  const int64_t rows = 64, cols = 48, group = 20;
  std::vector<float> tw(rows * cols);
  for (auto& x : tw) x = normal(rng);
  write_raw(dir + "/w.f32", tw);
  {
    std::ofstream out(dir + "/ternary.txt");
    out << rows << " " << cols << " 1e-5 " << group << "\n";
  }

  const std::string command = std::string("'") + SEEDFORGE_PYTHON + "' '" + SEEDFORGE_SOURCE_DIR +
                              "/tests/python/codec_reference.py' '" + dir + "'";
  ASSERT_EQ(std::system(command.c_str()), 0) << "failed: " << command;

  std::ifstream result(dir + "/seedlm_result.txt");
  int64_t blocks = -1, mismatches = -1;
  double max_diff = -1;
  result >> blocks >> mismatches >> max_diff;
  EXPECT_EQ(blocks, 125);
  EXPECT_EQ(mismatches, 0) << "max |diff| " << max_diff;

  for (auto [layout, name] : {std::pair{TernaryScaleLayout(TernaryScaleMode::kPerRow), "row"},
                              std::pair{TernaryScaleLayout(TernaryScaleMode::kPerTensor), "tensor"},
                              std::pair{TernaryScaleLayout(TernaryScaleMode::kPerRow, group), "group"}}) {
    const auto gamma = read_raw<float>(dir + "/gamma_" + name + ".f32");
    const auto trits = read_raw<int8_t>(dir + "/trits_" + name + ".i8");
    ASSERT_EQ(trits.size(), static_cast<size_t>(rows * cols)) << name;
    // With torch's gammas the trits are identical.
    ASSERT_EQ(static_cast<int64_t>(gamma.size()), layout.scale_count(rows, cols)) << name;
    const TernaryTensor given = ternarize_with_gamma(tw.data(), rows, cols, layout, gamma, 1e-5f);
    EXPECT_EQ(given.trits, trits) << name;
    // Our own gammas (double sums) agree with torch's to fp32 rounding.
    const TernaryTensor own = ternarize_absmean(tw.data(), rows, cols, layout, 1e-5f);
    for (size_t g = 0; g < gamma.size(); ++g) EXPECT_NEAR(own.scales[g], gamma[g], 1e-6 * gamma[g]) << name << " " << g;
    size_t differ = 0;
    for (size_t i = 0; i < trits.size(); ++i) differ += own.trits[i] != trits[i];
    EXPECT_LE(differ, 2u) << name;
  }
  const auto trits_row = read_raw<int8_t>(dir + "/trits_row.i8");
  EXPECT_EQ(pack_trits_base3(trits_row.data(), rows * cols), read_raw<uint8_t>(dir + "/packed_row.u8"));

  const std::string cleanup = "rm -rf '" + dir + "'";
  EXPECT_EQ(std::system(cleanup.c_str()), 0);
}
