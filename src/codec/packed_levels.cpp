#include "codec/packed_levels.h"

#include "common/error.h"

namespace seedforge {

int levels_per_byte(int max_level) {
  if (max_level < 1 || max_level > kMaxPackedLevel) {
    throw usage_error("packed levels: max level must be in [1, ", kMaxPackedLevel, "], got ", max_level);
  }
  const int base = 2 * max_level + 1;
  int k = 0;
  for (int power = base; power <= 256; power *= base) ++k;
  return k;
}

int64_t packed_levels_bytes(int64_t n, int max_level) {
  const int k = levels_per_byte(max_level);
  return (n + k - 1) / k;
}

std::vector<uint8_t> pack_levels(const int8_t* values, int64_t n, int max_level) {
  if (n < 0) throw usage_error("packed levels: negative value count ", n);
  const int k = levels_per_byte(max_level), base = 2 * max_level + 1;
  std::vector<uint8_t> out(static_cast<size_t>(packed_levels_bytes(n, max_level)));
  for (int64_t byte = 0; byte < static_cast<int64_t>(out.size()); ++byte) {
    int value = 0, power = 1;
    for (int i = 0; i < k; ++i, power *= base) {
      const int64_t j = byte * k + i;
      int digit = max_level;  // padding: the digit of 0
      if (j < n) {
        if (values[j] < -max_level || values[j] > max_level) {
          throw input_error("packed levels: value ", static_cast<int>(values[j]), " at index ", j, " is outside [-",
                            max_level, ", ", max_level, "]");
        }
        digit = values[j] + max_level;
      }
      value += digit * power;
    }
    out[static_cast<size_t>(byte)] = static_cast<uint8_t>(value);
  }
  return out;
}

void unpack_levels(const uint8_t* bytes, size_t size, int64_t n, int max_level, int8_t* out) {
  if (n < 0) throw usage_error("packed levels: negative value count ", n);
  const int k = levels_per_byte(max_level), base = 2 * max_level + 1;
  const int64_t expected = packed_levels_bytes(n, max_level);
  if (static_cast<int64_t>(size) != expected) {
    throw input_error("packed levels (max level ", max_level, "): ", size, " bytes, expected ", expected, " for ", n,
                      " values");
  }
  int limit = 1;
  for (int i = 0; i < k; ++i) limit *= base;
  for (size_t byte = 0; byte < size; ++byte) {
    int value = bytes[byte];
    if (value >= limit) {
      throw input_error("packed levels (max level ", max_level, "): byte ", byte, " = ", value, " exceeds ", limit - 1);
    }
    for (int i = 0; i < k; ++i) {
      const int digit = value % base;
      value /= base;
      const int64_t j = static_cast<int64_t>(byte) * k + i;
      if (j < n) {
        out[j] = static_cast<int8_t>(digit - max_level);
      } else if (digit != max_level) {
        throw input_error("packed levels (max level ", max_level, "): padding value ", j, " in the last byte is ",
                          digit - max_level, ", expected 0");
      }
    }
  }
}

}  // namespace seedforge
