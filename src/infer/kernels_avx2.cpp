// AVX2 kernels (compiled with -mavx2 -mfma -mf16c). Formulas and the packed
// layout in kernels.h. Nothing from the standard library is used here: an
// inline std function instantiated with these flags could be the copy the
// linker keeps for the whole program (see common/cpu_isa.h).
//
// Ternary x int8, per 32-column chunk: one 64-bit broadcast, a shift per
// 64-bit lane and a mask give the 32 codes; maddubs (u8 codes x s8
// activations, pairs summed to int16) and madd with ones (int32) accumulate a
// scale run in integers; at the end of the run the int32 lanes become fp32 and
// are multiplied by the run's scale. The accumulator of a run starts at
// -qsum (lane 0), which turns the codes back into trits.
// Up to four tokens share each unpacked chunk (prefill). Levels (I4-32): a
// 16-byte load, a shift and two masks give the same 32 codes in column order,
// and the run's accumulator starts at -L * qsum.
#include <immintrin.h>

#include "infer/kernels.h"
#include "infer/kernels_attention_impl.h"

namespace seedforge::infer {

namespace {

inline __m256i unpack_chunk(const uint8_t* p) {
  const __m256i v = _mm256_broadcastq_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  return _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 2, 4, 6)), _mm256_set1_epi8(3));
}

inline __m256i unpack_levels_chunk(const uint8_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i nibble = _mm_set1_epi8(15);
  const __m128i lo = _mm_and_si128(v, nibble);                      // columns 0..15
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), nibble);   // columns 16..31
  return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

// The 32 codes of chunk k of a row: I2-32 (Bits 2) or I4-32 (Bits 4).
template <int Bits>
inline __m256i codes_of(const uint8_t* w, int64_t k) {
  if (Bits == 2) return unpack_chunk(w + k * kChunkBytes);
  return unpack_levels_chunk(w + k * kLevelsChunkBytes);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <bool F16>
inline float load_scale(const void* scales, int64_t i) {
  if (F16) return _cvtsh_ss(static_cast<const uint16_t*>(scales)[i]);
  return static_cast<const float*>(scales)[i];
}

template <int NT, bool F16, int Bits>
void int8_rows(const TernaryArgs& a, int64_t t0) {
  const __m256i ones = _mm256_set1_epi16(1);
  const int8_t* q[NT];
  const int32_t* qsum[NT];
  for (int t = 0; t < NT; ++t) {
    q[t] = a.q + (t0 + t) * a.q_stride;
    qsum[t] = a.qsum + (t0 + t) * a.qsum_stride;
  }
  const int64_t gc = a.groups == 1 ? a.chunks : a.group_cols / kChunkCols;
  for (int64_t r = a.row_begin; r < a.row_end; ++r) {
    const uint8_t* w = a.codes + r * a.chunks * (Bits * kChunkCols / 8);
    const int64_t srow = r * a.scale_stride;
    __m256 accf[NT];
    for (int t = 0; t < NT; ++t) accf[t] = _mm256_setzero_ps();
    for (int64_t g = 0; g < a.groups; ++g) {
      const int64_t k0 = g * gc, k1 = g == a.groups - 1 ? a.chunks : k0 + gc;
      __m256i acc[NT];
      for (int t = 0; t < NT; ++t) acc[t] = _mm256_setr_epi32(-a.code_offset * qsum[t][g], 0, 0, 0, 0, 0, 0, 0);
      for (int64_t k = k0; k < k1; ++k) {
        const __m256i c = codes_of<Bits>(w, k);
        for (int t = 0; t < NT; ++t) {
          const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q[t] + k * kChunkCols));
          acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(_mm256_maddubs_epi16(c, x), ones));
        }
      }
      const __m256 s = _mm256_set1_ps(load_scale<F16>(a.scales, srow + g));
      for (int t = 0; t < NT; ++t) accf[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t]), s, accf[t]);
    }
    for (int t = 0; t < NT; ++t) {
      float y = hsum(accf[t]) / a.xscale[t0 + t];
      if (a.bias != nullptr) y += a.bias[r];
      a.y[(t0 + t) * a.y_stride + r] = y;
    }
  }
}

template <bool F16, int Bits>
void int8_all(const TernaryArgs& a) {
  int64_t t = 0;
  for (; t + 4 <= a.T; t += 4) int8_rows<4, F16, Bits>(a, t);
  switch (a.T - t) {
    case 3: int8_rows<3, F16, Bits>(a, t); break;
    case 2: int8_rows<2, F16, Bits>(a, t); break;
    case 1: int8_rows<1, F16, Bits>(a, t); break;
    default: break;
  }
}

void ternary_int8(const TernaryArgs& a) {
  if (a.scales_fp16) int8_all<true, 2>(a);
  else int8_all<false, 2>(a);
}

void levels_int8(const TernaryArgs& a) {
  if (a.scales_fp16) int8_all<true, 4>(a);
  else int8_all<false, 4>(a);
}

template <bool F16>
inline __m256 load_w8(const void* w, int64_t i) {
  if (F16) return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i)));
  return _mm256_loadu_ps(static_cast<const float*>(w) + i);
}

template <bool F16>
inline float load_w1(const void* w, int64_t i) {
  if (F16) return _cvtsh_ss(static_cast<const uint16_t*>(w)[i]);
  return static_cast<const float*>(w)[i];
}

// Dense rows for NT tokens; two accumulators a token hide the FMA latency.
template <int NT, bool F16>
void dense_rows(const DenseArgs& a, int64_t t0) {
  const float* x[NT];
  for (int t = 0; t < NT; ++t) x[t] = a.x + (t0 + t) * a.x_stride;
  for (int64_t r = a.row_begin; r < a.row_end; ++r) {
    const int64_t base = r * a.w_stride;
    __m256 acc0[NT], acc1[NT];
    for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= a.K; k += 16) {
      const __m256 w0 = load_w8<F16>(a.w, base + k), w1 = load_w8<F16>(a.w, base + k + 8);
      for (int t = 0; t < NT; ++t) {
        acc0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[t] + k), acc0[t]);
        acc1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x[t] + k + 8), acc1[t]);
      }
    }
    for (; k + 8 <= a.K; k += 8) {
      const __m256 w0 = load_w8<F16>(a.w, base + k);
      for (int t = 0; t < NT; ++t) acc0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[t] + k), acc0[t]);
    }
    for (int t = 0; t < NT; ++t) {
      float y = hsum(_mm256_add_ps(acc0[t], acc1[t]));
      for (int64_t j = k; j < a.K; ++j) y += load_w1<F16>(a.w, base + j) * x[t][j];
      if (a.bias != nullptr) y += a.bias[r];
      a.y[(t0 + t) * a.y_stride + r] = y;
    }
  }
}

template <bool F16>
void dense_all(const DenseArgs& a) {
  int64_t t = 0;
  for (; t + 4 <= a.T; t += 4) dense_rows<4, F16>(a, t);
  switch (a.T - t) {
    case 3: dense_rows<3, F16>(a, t); break;
    case 2: dense_rows<2, F16>(a, t); break;
    case 1: dense_rows<1, F16>(a, t); break;
    default: break;
  }
}

void dense(const DenseArgs& a) {
  if (a.w_fp16) dense_all<true>(a);
  else dense_all<false>(a);
}

}  // namespace

Kernels kernels_avx2() {
  Kernels k = kernels_generic();
  k.name = "avx2";
  k.isa = Isa::kAvx2;
  k.ternary_int8 = ternary_int8;
  k.levels_int8 = levels_int8;
  k.dense = dense;
  k.attend = attend_impl;
  return k;
}

}  // namespace seedforge::infer
