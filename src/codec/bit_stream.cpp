#include "codec/bit_stream.h"

#include "common/error.h"

namespace seedforge {

void BitWriter::put(uint32_t value, int bits) {
  for (int i = 0; i < bits; ++i) {
    const int64_t bit = n_bits_ + i;
    if ((bit & 7) == 0) bytes_.push_back(0);
    bytes_.back() = static_cast<uint8_t>(bytes_.back() | (((value >> i) & 1u) << (bit & 7)));
  }
  n_bits_ += bits;
}

uint32_t BitReader::get(int bits) {
  if (pos_ + bits > static_cast<int64_t>(size_) * 8) {
    throw input_error("bit stream: reading ", bits, " bits at bit ", pos_, " runs past the end (", size_,
                      " bytes)");
  }
  uint32_t value = 0;
  for (int i = 0; i < bits; ++i) {
    const int64_t bit = pos_ + i;
    value |= static_cast<uint32_t>((data_[bit >> 3] >> (bit & 7)) & 1u) << i;
  }
  pos_ += bits;
  return value;
}

int32_t BitReader::get_signed(int bits) {
  const uint32_t raw = get(bits);
  if (bits > 0 && bits < 32 && (raw >> (bits - 1)) & 1u) {
    return static_cast<int32_t>(raw) - static_cast<int32_t>(uint32_t{1} << bits);
  }
  return static_cast<int32_t>(raw);
}

}  // namespace seedforge
