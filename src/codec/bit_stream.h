// Bit-level writer and reader, least-significant bit first: bit i of the stream
// is bit (i % 8) of byte i / 8, and a field's bit 0 is written first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace seedforge {

class BitWriter {
 public:
  explicit BitWriter(size_t reserve_bytes = 0) { bytes_.reserve(reserve_bytes); }
  // The low `bits` (0..32) bits of value.
  void put(uint32_t value, int bits);
  int64_t bit_count() const { return n_bits_; }
  // The stream so far, ending on a whole byte (unused high bits of the last byte are 0).
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  std::vector<uint8_t> take() { return std::move(bytes_); }

 private:
  std::vector<uint8_t> bytes_;
  int64_t n_bits_ = 0;
};

class BitReader {
 public:
  BitReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  // Next `bits` (0..32) bits as an unsigned value; throws input_error past the end.
  uint32_t get(int bits);
  // Next `bits` bits as a two's complement signed value.
  int32_t get_signed(int bits);
  int64_t position() const { return pos_; }
  void seek(int64_t bit) { pos_ = bit; }

 private:
  const uint8_t* data_;
  size_t size_;
  int64_t pos_ = 0;
};

}  // namespace seedforge
