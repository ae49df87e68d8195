// Generic (plain C++) kernels: the reference the SIMD variants are tested
// against, the fallback on CPUs without AVX2, and the only kernel for scale
// runs that do not start on 32-column chunk boundaries. Formulas in kernels.h.
#include <cstring>
#include <vector>

#include "infer/kernels.h"
#include "infer/kernels_attention_impl.h"

namespace seedforge::infer {

namespace {

// The 32 codes of one packed chunk, in column order: trit + 1 from an I2-32
// chunk (Bits 2), value + L from an I4-32 chunk (Bits 4).
template <int Bits>
void unpack_chunk(const uint8_t* chunk, uint8_t* out) {
  if (Bits == 2) {
    for (int s = 0; s < 4; ++s) {
      for (int j = 0; j < 8; ++j) out[8 * s + j] = static_cast<uint8_t>((chunk[j] >> (2 * s)) & 3);
    }
  } else {
    for (int j = 0; j < 16; ++j) {
      out[j] = static_cast<uint8_t>(chunk[j] & 15);
      out[16 + j] = static_cast<uint8_t>(chunk[j] >> 4);
    }
  }
}

float scale_at(const TernaryArgs& a, int64_t row, int64_t group) {
  const int64_t i = row * a.scale_stride + group;
  return a.scales_fp16 ? fp16_to_float(static_cast<const uint16_t*>(a.scales)[i]) : static_cast<const float*>(a.scales)[i];
}

// Column range [c0, c1) of scale run g in a row of Kp (padded) columns.
void run_range(const TernaryArgs& a, int64_t g, int64_t kp, int64_t* c0, int64_t* c1) {
  if (a.groups == 1) {
    *c0 = 0;
    *c1 = kp;
    return;
  }
  *c0 = g * a.group_cols;
  *c1 = g == a.groups - 1 ? kp : (g + 1) * a.group_cols;
}

template <int Bits>
void unpack_row(const TernaryArgs& a, int64_t r, std::vector<uint8_t>& codes) {
  constexpr int64_t chunk_bytes = Bits * kChunkCols / 8;
  codes.resize(static_cast<size_t>(a.chunks * kChunkCols));
  const uint8_t* w = a.codes + r * a.chunks * chunk_bytes;
  for (int64_t k = 0; k < a.chunks; ++k) unpack_chunk<Bits>(w + k * chunk_bytes, codes.data() + k * kChunkCols);
}

template <int Bits>
void int8_kernel(const TernaryArgs& a) {
  thread_local std::vector<uint8_t> codes;
  const int64_t kp = a.chunks * kChunkCols;
  for (int64_t r = a.row_begin; r < a.row_end; ++r) {
    unpack_row<Bits>(a, r, codes);
    for (int64_t t = 0; t < a.T; ++t) {
      const int8_t* q = a.q + t * a.q_stride;
      const int32_t* qsum = a.qsum + t * a.qsum_stride;
      float acc = 0.0f;
      for (int64_t g = 0; g < a.groups; ++g) {
        int64_t c0, c1;
        run_range(a, g, kp, &c0, &c1);
        int32_t sum = 0;
        for (int64_t c = c0; c < c1; ++c) sum += int32_t(codes[static_cast<size_t>(c)]) * int32_t(q[c]);
        acc += scale_at(a, r, g) * static_cast<float>(sum - a.code_offset * qsum[g]);
      }
      float y = acc / a.xscale[t];
      if (a.bias != nullptr) y += a.bias[r];
      a.y[t * a.y_stride + r] = y;
    }
  }
}

void ternary_int8(const TernaryArgs& a) { int8_kernel<2>(a); }
void levels_int8(const TernaryArgs& a) { int8_kernel<4>(a); }

void ternary_float(const TernaryArgs& a) {
  thread_local std::vector<uint8_t> codes;
  const int64_t kp = a.chunks * kChunkCols;
  for (int64_t r = a.row_begin; r < a.row_end; ++r) {
    unpack_row<2>(a, r, codes);
    for (int64_t t = 0; t < a.T; ++t) {
      const float* x = a.x + t * a.x_stride;
      float acc = 0.0f;
      for (int64_t g = 0; g < a.groups; ++g) {
        int64_t c0, c1;
        run_range(a, g, kp, &c0, &c1);
        float sum = 0.0f;
        for (int64_t c = c0; c < c1; ++c) {
          const uint8_t code = codes[static_cast<size_t>(c)];
          if (code == 2) sum += x[c];
          else if (code == 0) sum -= x[c];
        }
        acc += scale_at(a, r, g) * sum;
      }
      if (a.bias != nullptr) acc += a.bias[r];
      a.y[t * a.y_stride + r] = acc;
    }
  }
}

void dense(const DenseArgs& a) {
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(a.K));
  for (int64_t r = a.row_begin; r < a.row_end; ++r) {
    const float* w;
    if (a.w_fp16) {
      const uint16_t* h = static_cast<const uint16_t*>(a.w) + r * a.w_stride;
      for (int64_t k = 0; k < a.K; ++k) row[static_cast<size_t>(k)] = fp16_to_float(h[k]);
      w = row.data();
    } else {
      w = static_cast<const float*>(a.w) + r * a.w_stride;
    }
    for (int64_t t = 0; t < a.T; ++t) {
      const float* x = a.x + t * a.x_stride;
      // Four partial sums: the loop vectorizes, and the order is fixed.
      float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
      int64_t k = 0;
      for (; k + 4 <= a.K; k += 4) {
        for (int i = 0; i < 4; ++i) s[i] += w[k + i] * x[k + i];
      }
      for (; k < a.K; ++k) s[0] += w[k] * x[k];
      float y = (s[0] + s[1]) + (s[2] + s[3]);
      if (a.bias != nullptr) y += a.bias[r];
      a.y[t * a.y_stride + r] = y;
    }
  }
}

}  // namespace

float fp16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mantissa <<= 1;
      } while ((mantissa & 0x400u) == 0);
      bits = sign | (uint32_t(127 - 15 - e) << 23) | ((mantissa & 0x3ffu) << 13);
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // Inf, NaN
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

Kernels kernels_generic() {
  Kernels k;
  k.name = "generic";
  k.isa = Isa::kGeneric;
  k.ternary_int8 = ternary_int8;
  k.levels_int8 = levels_int8;
  k.ternary_float = ternary_float;
  k.dense = dense;
  k.attend = attend_impl;
  return k;
}

}  // namespace seedforge::infer
