// SeedLM parameters (Shafipour et al., arXiv 2410.10714) and their checks.
//
// A block of C weights is stored as an LFSR seed (K bits), a shared exponent
// e (E bits, two's complement) and P mantissas q_i (Q bits, two's complement);
// it decodes to scale * U(seed) * (q * 2^e), U(seed) a C x P pseudo-random basis.
#pragma once

#include <cstdint>
#include <vector>

namespace seedforge {

// Fixed upper limits that let the search keep one block on the stack.
constexpr int kSeedLMMaxC = 64;
constexpr int kSeedLMMaxP = 16;

struct SeedLMParams {
  int K = 16;             // LFSR bits; seeds are 1 .. 2^K - 1
  std::vector<int> taps;  // LFSR taps; empty = lfsr_default_taps(K)
  int C = 8;              // weights per block
  int P = 4;              // basis columns = mantissas per block
  int Q = 4;              // bits per mantissa, two's complement
  int E = 4;              // bits of the shared exponent, two's complement
  // 0: search all 2^K - 1 seeds (exact). N > 0: search only the N seeds
  // 1 + floor(i * (2^K - 1) / N), i = 0 .. N-1 (evenly spread, deterministic).
  int64_t seed_candidates = 0;
  int threads = 0;  // 0: one per core; the result does not depend on it

  // Throws usage_error naming the field, the allowed range and the value.
  void validate() const;
  // (K + E + P*Q) / C; the per-tensor fp32 scale (32 bits) is not included.
  double bits_per_weight() const;
  int bits_per_block() const { return K + E + P * Q; }

  std::vector<int> resolved_taps() const;  // taps, or the table default
  uint32_t tap_mask() const;               // of resolved_taps()
  int exponent_min() const { return -(1 << (E - 1)); }
  int exponent_max() const { return (1 << (E - 1)) - 1; }
  int mantissa_min() const { return -(1 << (Q - 1)); }
  int mantissa_max() const { return (1 << (Q - 1)) - 1; }
  int64_t seed_count() const { return (int64_t{1} << K) - 1; }
  // Number of seeds the search visits (seed_candidates, or all).
  int64_t searched_seed_count() const;
  // The seeds the search visits, ascending.
  std::vector<uint32_t> searched_seeds() const;
};

}  // namespace seedforge
