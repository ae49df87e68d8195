#include "codec/seedlm_params.h"

#include <map>
#include <mutex>
#include <utility>

#include "codec/lfsr.h"
#include "common/error.h"

namespace seedforge {
namespace {

// Custom taps must give a maximal-length LFSR: every seed then lies on the one
// cycle and C*P steps never repeat a state. O(2^K), so results are cached.
bool taps_are_maximal(int K, uint32_t mask) {
  static std::mutex mutex;
  static std::map<std::pair<int, uint32_t>, bool> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto key = std::make_pair(K, mask);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  const bool maximal = lfsr_period(K, mask) == (uint64_t{1} << K) - 1;
  cache.emplace(key, maximal);
  return maximal;
}

void check_range(const char* field, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    throw usage_error("SeedLM parameter ", field, "=", value, " is outside [", lo, ", ", hi, "]");
  }
}

}  // namespace

void SeedLMParams::validate() const {
  if (K < kLfsrMinBits || K > kLfsrMaxBits) {
    throw usage_error("SeedLM parameter K=", K, " is outside the LFSR tap table [", kLfsrMinBits, ", ",
                      kLfsrMaxBits, "]");
  }
  const uint32_t mask = tap_mask();  // checks tap positions
  if (!taps.empty() && !taps_are_maximal(K, mask)) {
    throw usage_error("SeedLM parameter taps: the given taps are not maximal-length for K=", K,
                      " (period differs from 2^K-1 = ", seed_count(), "); leave taps empty for the table default");
  }
  check_range("C", C, 1, kSeedLMMaxC);
  check_range("P", P, 1, kSeedLMMaxP);
  if (P > C) throw usage_error("SeedLM parameter P=", P, " exceeds C=", C, " (more coefficients than weights)");
  check_range("Q", Q, 2, 8);
  check_range("E", E, 2, 8);
  const int64_t period = seed_count();
  if (int64_t{C} * P > period) {
    throw usage_error("SeedLM parameters C*P=", int64_t{C} * P, " exceed the LFSR period 2^K-1 = ", period,
                      " for K=", K, ": the basis would repeat; use a larger K");
  }
  check_range("seed_candidates", seed_candidates, 0, period);
  if (threads < 0) throw usage_error("SeedLM parameter threads=", threads, " must be >= 0 (0 = all cores)");
}

double SeedLMParams::bits_per_weight() const { return static_cast<double>(bits_per_block()) / C; }

std::vector<int> SeedLMParams::resolved_taps() const { return taps.empty() ? lfsr_default_taps(K) : taps; }

uint32_t SeedLMParams::tap_mask() const { return lfsr_tap_mask(K, resolved_taps()); }

int64_t SeedLMParams::searched_seed_count() const {
  return seed_candidates > 0 ? seed_candidates : seed_count();
}

std::vector<uint32_t> SeedLMParams::searched_seeds() const {
  const int64_t total = seed_count();
  const int64_t n = searched_seed_count();
  std::vector<uint32_t> seeds(static_cast<size_t>(n));
  // Evenly spread: i * total / n < total, strictly increasing because n <= total.
  for (int64_t i = 0; i < n; ++i) seeds[static_cast<size_t>(i)] = static_cast<uint32_t>(1 + i * total / n);
  return seeds;
}

}  // namespace seedforge
