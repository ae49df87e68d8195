// Block codecs of the ggml types seedforge uses (layouts: gguf_blocks.h).
#include "gguf/gguf_blocks.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "infer/kernels.h"

namespace seedforge::gguf {

namespace {

constexpr int64_t kTernaryBlock = 256;
constexpr int64_t kTq2Bytes = 66, kTq1Bytes = 54, kQ8Bytes = 34;

void store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v & 0xff);
  p[1] = static_cast<uint8_t>(v >> 8);
}
uint16_t load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

void check_blocks(int64_t n, int64_t block, const char* what) {
  if (n < 0 || n % block != 0) throw usage_error(what, ": ", n, " values is not a multiple of the block size ", block);
}

int code_of(int8_t trit, int64_t index) {
  if (trit < -1 || trit > 1) throw usage_error("ternary block: value ", int(trit), " at index ", index, " is not a trit");
  return trit + 1;
}

// Position of value v (0..255) of a TQ1_0 block: byte index (qs then qh, 0..51)
// and its digit (0 = most significant).
struct Tq1Place {
  int byte, digit;
};
Tq1Place tq1_place(int v) {
  if (v < 160) return {v % 32, v / 32};
  if (v < 240) return {32 + (v - 160) % 16, (v - 160) / 16};
  return {48 + (v - 240) % 4, (v - 240) / 4};
}

// The byte holding base-3 digits d[0..4] (d[0] most significant).
uint8_t tq1_byte(const int* digits) {
  int n = 0;
  for (int k = 0; k < 5; ++k) n = n * 3 + digits[k];
  return static_cast<uint8_t>((n * 256 + 242) / 243);  // ceil(n * 256 / 243), n <= 242
}
int tq1_digit(uint8_t b, int k) {
  static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
  const uint8_t shifted = static_cast<uint8_t>(b * pow3[k]);  // drops the digits above k (mod 256)
  return (static_cast<int>(shifted) * 3) >> 8;
}

}  // namespace

const GgmlTypeInfo* ggml_type_info(uint32_t type) {
  static const GgmlTypeInfo f32{"F32", 1, 4}, f16{"F16", 1, 2}, q8{"Q8_0", 32, kQ8Bytes}, tq1{"TQ1_0", 256, kTq1Bytes},
      tq2{"TQ2_0", 256, kTq2Bytes};
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::kF32: return &f32;
    case GgmlType::kF16: return &f16;
    case GgmlType::kQ8_0: return &q8;
    case GgmlType::kTQ1_0: return &tq1;
    case GgmlType::kTQ2_0: return &tq2;
  }
  return nullptr;
}

std::string ggml_type_name(uint32_t type) {
  const GgmlTypeInfo* info = ggml_type_info(type);
  return info != nullptr ? info->name : "type " + std::to_string(type);
}

int64_t ggml_bytes(GgmlType type, int64_t n) {
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(type));
  if (info == nullptr) throw usage_error("ggml_bytes: unknown type ", static_cast<uint32_t>(type));
  check_blocks(n, info->block_values, info->name);
  return n / info->block_values * info->block_bytes;
}

void pack_tq2_0(const int8_t* trits, const uint16_t* block_scales, int64_t n, uint8_t* out) {
  check_blocks(n, kTernaryBlock, "TQ2_0");
  for (int64_t b = 0; b < n / kTernaryBlock; ++b) {
    uint8_t* blk = out + b * kTq2Bytes;
    std::memset(blk, 0, 64);
    for (int v = 0; v < 256; ++v) {
      const int64_t index = b * kTernaryBlock + v;
      const int byte = (v / 128) * 32 + v % 32, pair = (v % 128) / 32;
      blk[byte] = static_cast<uint8_t>(blk[byte] | (code_of(trits[index], index) << (2 * pair)));
    }
    store16(blk + 64, block_scales[b]);
  }
}

void unpack_tq2_0(const uint8_t* in, int64_t n, int8_t* trits, uint16_t* block_scales) {
  check_blocks(n, kTernaryBlock, "TQ2_0");
  for (int64_t b = 0; b < n / kTernaryBlock; ++b) {
    const uint8_t* blk = in + b * kTq2Bytes;
    for (int v = 0; v < 256; ++v) {
      const int byte = (v / 128) * 32 + v % 32, pair = (v % 128) / 32;
      const int code = (blk[byte] >> (2 * pair)) & 3;
      if (code == 3) throw input_error("TQ2_0 value ", b * kTernaryBlock + v, " has code 3, which is not a trit");
      trits[b * kTernaryBlock + v] = static_cast<int8_t>(code - 1);
    }
    block_scales[b] = load16(blk + 64);
  }
}

void pack_tq1_0(const int8_t* trits, const uint16_t* block_scales, int64_t n, uint8_t* out) {
  check_blocks(n, kTernaryBlock, "TQ1_0");
  for (int64_t b = 0; b < n / kTernaryBlock; ++b) {
    int digits[52][5] = {};
    for (int v = 0; v < 256; ++v) {
      const int64_t index = b * kTernaryBlock + v;
      const Tq1Place p = tq1_place(v);
      digits[p.byte][p.digit] = code_of(trits[index], index);
    }
    uint8_t* blk = out + b * kTq1Bytes;
    for (int j = 0; j < 52; ++j) blk[j] = tq1_byte(digits[j]);  // qh's fifth digit stays 0
    store16(blk + 52, block_scales[b]);
  }
}

void unpack_tq1_0(const uint8_t* in, int64_t n, int8_t* trits, uint16_t* block_scales) {
  check_blocks(n, kTernaryBlock, "TQ1_0");
  for (int64_t b = 0; b < n / kTernaryBlock; ++b) {
    const uint8_t* blk = in + b * kTq1Bytes;
    for (int v = 0; v < 256; ++v) {
      const Tq1Place p = tq1_place(v);
      trits[b * kTernaryBlock + v] = static_cast<int8_t>(tq1_digit(blk[p.byte], p.digit) - 1);
    }
    block_scales[b] = load16(blk + 52);
  }
}

void pack_f16(const float* x, int64_t n, uint8_t* out) {
  for (int64_t i = 0; i < n; ++i) store16(out + 2 * i, infer::float_to_fp16(x[i]));
}

void pack_q8_0(const float* x, int64_t n, uint8_t* out) {
  check_blocks(n, 32, "Q8_0");
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* v = x + b * 32;
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(v[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t* blk = out + b * kQ8Bytes;
    store16(blk, infer::float_to_fp16(d));
    for (int i = 0; i < 32; ++i) {
      long q = std::lround(v[i] * id);
      if (q > 127) q = 127;
      if (q < -127) q = -127;
      blk[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(q));
    }
  }
}

void dequantize(GgmlType type, const uint8_t* in, int64_t n, float* out) {
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(out, in, static_cast<size_t>(n) * 4);
      return;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) out[i] = infer::fp16_to_float(load16(in + 2 * i));
      return;
    case GgmlType::kQ8_0:
      check_blocks(n, 32, "Q8_0");
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = in + b * kQ8Bytes;
        const float d = infer::fp16_to_float(load16(blk));
        for (int i = 0; i < 32; ++i) out[b * 32 + i] = static_cast<float>(static_cast<int8_t>(blk[2 + i])) * d;
      }
      return;
    case GgmlType::kTQ1_0:
    case GgmlType::kTQ2_0: {
      check_blocks(n, kTernaryBlock, ggml_type_name(static_cast<uint32_t>(type)).c_str());
      std::vector<int8_t> trits(static_cast<size_t>(n));
      std::vector<uint16_t> scales(static_cast<size_t>(n / kTernaryBlock));
      int8_t* t = trits.data();
      uint16_t* s = scales.data();
      if (type == GgmlType::kTQ1_0) unpack_tq1_0(in, n, t, s);
      else unpack_tq2_0(in, n, t, s);
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(t[i]) * infer::fp16_to_float(s[i / kTernaryBlock]);
      return;
    }
  }
  throw usage_error("dequantize: unknown type ", static_cast<uint32_t>(type));
}

}  // namespace seedforge::gguf
