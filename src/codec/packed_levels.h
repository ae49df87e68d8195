// Packed symmetric integer levels: weights q in {-L, ..., L} (2L + 1 levels,
// max level L in 1..7) times a scale, the wider sibling of packed ternary
// (ternary.h) for projections that keep more than three levels
// (bitnet.projection_levels). Specified in docs/FORMAT.md, "Packed levels":
//   base B = 2L + 1, k = the most digits with B^k <= 256 (L = 1: 5, L = 2: 3,
//   L = 3..7: 2), byte = sum_{i<k} (q_i + L) * B^i, values in row-major order,
//   the last byte padded with the digit of q = 0. So 8 / k bits a weight:
//   L = 1 is exactly the base-3 trit packing (1.6 bits), L = 2 (five levels)
//   2.67 bits, L = 3..7 4 bits (L = 7, fifteen levels, is the one worth its
//   bytes there).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace seedforge {

inline constexpr int kMaxPackedLevel = 7;

// Digits a byte holds for max level L (1..kMaxPackedLevel); usage_error otherwise.
int levels_per_byte(int max_level);
// ceil(n / levels_per_byte(max_level)).
int64_t packed_levels_bytes(int64_t n, int max_level);

// Throws input_error naming the index when a value is outside [-L, L].
std::vector<uint8_t> pack_levels(const int8_t* values, int64_t n, int max_level);

// out: n values. Throws input_error when size != packed_levels_bytes(n, L), a
// byte is B^k or more, or a padding digit is not that of 0.
void unpack_levels(const uint8_t* bytes, size_t size, int64_t n, int max_level, int8_t* out);

}  // namespace seedforge
