// Relative Frobenius error ||W - W_hat|| / ||W|| of a SeedLM round trip, shared
// by the quality tests (small, unit) and the full-size run (slow).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "codec/seedlm_codec.h"

namespace seedlm_quality {

inline std::vector<float> gaussian(int64_t n, float sd, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, sd);
  std::vector<float> w(static_cast<size_t>(n));
  for (auto& x : w) x = normal(rng);
  return w;
}

// scale * T, T uniform over {-1, 0, +1}.
inline std::vector<float> ternary(int64_t n, float scale, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> trit(-1, 1);
  std::vector<float> w(static_cast<size_t>(n));
  for (auto& x : w) x = scale * static_cast<float>(trit(rng));
  return w;
}

struct Result {
  double rel_error = 0.0;
  double bits_per_weight = 0.0;  // stream bytes * 8 / values (scale not counted)
};

inline Result round_trip(const std::vector<float>& w, const seedforge::SeedLMParams& p) {
  const seedforge::SeedLMTensor t = seedforge::seedlm_encode(w.data(), static_cast<int64_t>(w.size()), p);
  std::vector<float> out(w.size());
  seedforge::seedlm_decode(t, p, out.data());
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < w.size(); ++i) {
    const double d = static_cast<double>(w[i]) - out[i];
    num += d * d;
    den += static_cast<double>(w[i]) * w[i];
  }
  Result r;
  r.rel_error = std::sqrt(num / den);
  r.bits_per_weight = static_cast<double>(t.bits.size()) * 8.0 / static_cast<double>(w.size());
  return r;
}

inline seedforge::SeedLMParams setting(int C, int P) {
  seedforge::SeedLMParams p;
  p.C = C;
  p.P = P;
  return p;
}

}  // namespace seedlm_quality
