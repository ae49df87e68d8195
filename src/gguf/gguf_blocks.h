// The ggml tensor types seedforge writes into and reads from GGUF files, and
// their block codecs. Torch-free. Layouts as llama.cpp stores them
// (ggml/src/ggml-common.h), written from the layout, not from its code:
//
//   F32    4 bytes a value (little-endian IEEE binary32)
//   F16    2 bytes a value (IEEE binary16)
//   Q8_0   blocks of 32 values, 34 bytes: fp16 d, then 32 int8 q; value = q * d
//   TQ2_0  blocks of 256 values, 66 bytes (2.0625 bits a value): qs[64], fp16 d.
//          Value v of the block (0..255): byte j = (v / 128) * 32 + v % 32,
//          bit pair l = (v % 128) / 32 (bits 2l, 2l+1) holds the code c in
//          {0, 1, 2}; value = (c - 1) * d. Code 3 is not a trit.
//   TQ1_0  blocks of 256 values, 54 bytes (1.6875 bits a value): qs[48],
//          qh[4], fp16 d. Five trits a byte in qs, four in qh, each byte the
//          base-3 number of its trits (codes c = trit + 1, first trit the most
//          significant digit, qh's bytes with a fifth digit 0) scaled to a byte:
//          b = ceil(n * 256 / 243). Digit k of a byte is read back as
//          ((uint8)(b * 3^k) * 3) >> 8. Which value sits where:
//            qs[m], m < 32:        values m + 32k, k = 0..4        (0..159)
//            qs[32 + m], m < 16:   values 160 + m + 16k, k = 0..4  (160..239)
//            qh[m], m < 4:         values 240 + m + 4k, k = 0..3   (240..255)
//
// Dimensions: n values (a multiple of the type's block size), nb = n / 256
// blocks for the ternary types.
#pragma once

#include <cstdint>
#include <string>

namespace seedforge::gguf {

enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ8_0 = 8,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
};

struct GgmlTypeInfo {
  const char* name;      // "F32", "TQ2_0", ... as llama.cpp prints them
  int64_t block_values;  // values a block
  int64_t block_bytes;   // bytes a block
};

// The type's layout; nullptr for a type id seedforge does not read or write.
const GgmlTypeInfo* ggml_type_info(uint32_t type);
// "TQ2_0" for kTQ2_0, "type 12" for an id seedforge does not know.
std::string ggml_type_name(uint32_t type);
// Bytes of n values of a known type; throws usage_error when n is not a
// multiple of the block size.
int64_t ggml_bytes(GgmlType type, int64_t n);

// Ternary blocks from trits (-1, 0, 1) [n] and one fp16 scale (bits) a block
// [n / 256]. out: ggml_bytes(type, n) bytes. Throws usage_error for a value
// that is not a trit or n not a multiple of 256.
void pack_tq2_0(const int8_t* trits, const uint16_t* block_scales, int64_t n, uint8_t* out);
void pack_tq1_0(const int8_t* trits, const uint16_t* block_scales, int64_t n, uint8_t* out);
// The inverse: trits [n] and scales [n / 256]. TQ2_0 throws input_error for a
// code 3 (naming the value index); every TQ1_0 byte decodes to five digits.
void unpack_tq2_0(const uint8_t* in, int64_t n, int8_t* trits, uint16_t* block_scales);
void unpack_tq1_0(const uint8_t* in, int64_t n, int8_t* trits, uint16_t* block_scales);

// F16 and Q8_0 from floats. F16 rounds to nearest even; Q8_0 takes
// d = max|x| / 127 per block (fp16), q = round-half-away(x / d).
void pack_f16(const float* x, int64_t n, uint8_t* out);
void pack_q8_0(const float* x, int64_t n, uint8_t* out);

// Any known type back to fp32 [n]. Throws as the unpackers.
void dequantize(GgmlType type, const uint8_t* in, int64_t n, float* out);

}  // namespace seedforge::gguf
