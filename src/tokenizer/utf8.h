// Lenient UTF-8 stepping for the tokenizers: a malformed byte is returned as
// one "code point" kInvalidByteBase + byte so that byte-level tokenizers keep
// every input byte (and classify it as neither letter, number nor space).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace seedforge {
namespace utf8 {

constexpr uint32_t kInvalidByteBase = 0x110000;

// Decodes the code point at text[pos]; sets `length` to its byte count (1..4).
inline uint32_t decode(std::string_view text, size_t pos, size_t& length) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t b0 = byte(pos);
  length = 1;
  if (b0 < 0x80) return b0;
  size_t n;
  uint32_t cp;
  uint32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1Fu, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0Fu, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07u, min = 0x10000;
  } else {
    return kInvalidByteBase + b0;
  }
  if (pos + n > text.size()) return kInvalidByteBase + b0;
  for (size_t i = 1; i < n; ++i) {
    const uint8_t b = byte(pos + i);
    if ((b & 0xC0) != 0x80) return kInvalidByteBase + b0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  // Overlong forms, surrogates and values past U+10FFFF are malformed.
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return kInvalidByteBase + b0;
  length = n;
  return cp;
}

// Appends the UTF-8 form of `cp` (or the raw byte of an invalid-byte code point).
inline void append(std::string& out, uint32_t cp) {
  if (cp >= kInvalidByteBase) {
    out += static_cast<char>(cp - kInvalidByteBase);
  } else if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace utf8
}  // namespace seedforge
