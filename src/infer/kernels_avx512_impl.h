// AVX-512 kernels, included by kernels_avx512.cpp (AVX-512F + BW: maddubs and
// madd) and kernels_avx512vnni.cpp (VNNI: one dpbusd), each with its own
// compiler flags; SEEDFORGE_INFER_VNNI selects the multiply-add. Internal
// linkage and nothing from the standard library (see kernels_avx2.cpp).
//
// Ternary x int8: two consecutive 32-column chunks (16 packed bytes) unpack
// into one 512-bit vector (a permute puts chunk A in 64-bit lanes 0-3 and
// chunk B in 4-7, then a shift per lane and a mask), against 64 contiguous
// activations. Int32 lanes 0-7 then hold chunk A's partial sums, 8-15 chunk
// B's. With one scale per chunk (32-column runs, the shipped configuration)
// the two chunks are two runs: their accumulators start at (-qsum_A in lane 0,
// -qsum_B in lane 8) and are scaled by (s_A x 8, s_B x 8). With longer runs
// (a multiple of 32 columns, or one run a row) a run accumulates in integers
// and is scaled once. A chunk left over runs on 256-bit vectors.
//
// Levels (I4-32): two chunks are 32 bytes; their low nibbles hold columns
// 0..15 and high nibbles 16..31 of each, so one 256-bit load, a shift, two
// masks and a 128-bit lane shuffle give the same 64 codes in column order.
// The runs start at -L * qsum instead of -qsum; the rest is the same code.
#pragma once

#include <immintrin.h>

// GCC 12 reports its own AVX-512 intrinsics' _mm512_undefined_* placeholders
// as "may be used uninitialized" once they are inlined here (a known false
// positive of that release); nothing in this file reads an undefined lane.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "infer/kernels.h"

namespace seedforge::infer {

namespace {

inline __m512i unpack_pair(const uint8_t* p) {
  const __m512i v = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 0, 0, 0, 1, 1, 1, 1),
                                             _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  return _mm512_and_si512(_mm512_srlv_epi64(v, _mm512_setr_epi64(0, 2, 4, 6, 0, 2, 4, 6)), _mm512_set1_epi8(3));
}

inline __m256i unpack_one(const uint8_t* p) {
  const __m256i v = _mm256_broadcastq_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  return _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 2, 4, 6)), _mm256_set1_epi8(3));
}

inline __m512i unpack_levels_pair(const uint8_t* p) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i nibble = _mm256_set1_epi8(15);
  const __m256i lo = _mm256_and_si256(v, nibble);                     // A 0..15, B 0..15
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble);  // A 16..31, B 16..31
  const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
  return _mm512_shuffle_i64x2(both, both, _MM_SHUFFLE(3, 1, 2, 0));    // A 0..31, B 0..31
}

inline __m256i unpack_levels_one(const uint8_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i nibble = _mm_set1_epi8(15);
  const __m128i lo = _mm_and_si128(v, nibble);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), nibble);
  return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

// Chunks k and k + 1 of a row (Bits 2: I2-32, 4: I4-32), and chunk k alone.
template <int Bits>
inline __m512i codes_pair(const uint8_t* w, int64_t k) {
  if (Bits == 2) return unpack_pair(w + k * kChunkBytes);
  return unpack_levels_pair(w + k * kLevelsChunkBytes);
}

template <int Bits>
inline __m256i codes_one(const uint8_t* w, int64_t k) {
  if (Bits == 2) return unpack_one(w + k * kChunkBytes);
  return unpack_levels_one(w + k * kLevelsChunkBytes);
}

// acc += sum over 4-byte groups of codes (u8) x q (s8).
inline __m512i dot512(__m512i acc, __m512i codes, __m512i q) {
#if defined(SEEDFORGE_INFER_VNNI)
  return _mm512_dpbusd_epi32(acc, codes, q);
#else
  return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(codes, q), _mm512_set1_epi16(1)));
#endif
}

inline __m256i dot256(__m256i acc, __m256i codes, __m256i q) {
#if defined(SEEDFORGE_INFER_VNNI)
  return _mm256_dpbusd_epi32(acc, codes, q);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(codes, q), _mm256_set1_epi16(1)));
#endif
}

template <bool F16>
inline float load_scale(const void* scales, int64_t i) {
  if (F16) return _cvtsh_ss(static_cast<const uint16_t*>(scales)[i]);
  return static_cast<const float*>(scales)[i];
}

inline __m512 two_scales(float a, float b) {
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(_mm256_set1_ps(a))),
                                             _mm256_castps_pd(_mm256_set1_ps(b)), 1));
}

inline __m512i lane0_lane8(int32_t a, int32_t b) {
  __m512i v = _mm512_maskz_set1_epi32(static_cast<__mmask16>(0x0001), a);
  return _mm512_mask_set1_epi32(v, static_cast<__mmask16>(0x0100), b);
}

inline __m512i q_pair(const int8_t* q, int64_t k) {
  return _mm512_loadu_si512(reinterpret_cast<const void*>(q + k * kChunkCols));
}

inline __m256i q_one(const int8_t* q, int64_t k) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + k * kChunkCols));
}

// One scale per chunk: chunks (= runs) in pairs.
template <int NT, bool F16, int Bits>
void int8_rows_per_chunk(const TernaryArgs& a, int64_t t0) {
  const int8_t* q[NT];
  const int32_t* qsum[NT];
  for (int t = 0; t < NT; ++t) {
    q[t] = a.q + (t0 + t) * a.q_stride;
    qsum[t] = a.qsum + (t0 + t) * a.qsum_stride;
  }
  const int32_t off = a.code_offset;
  for (int64_t r = a.row_begin; r < a.row_end; ++r) {
    const uint8_t* w = a.codes + r * a.chunks * (Bits * kChunkCols / 8);
    const int64_t srow = r * a.scale_stride;
    __m512 accf[NT];
    for (int t = 0; t < NT; ++t) accf[t] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 2 <= a.chunks; k += 2) {
      const __m512i c = codes_pair<Bits>(w, k);
      const __m512 s = two_scales(load_scale<F16>(a.scales, srow + k), load_scale<F16>(a.scales, srow + k + 1));
      for (int t = 0; t < NT; ++t) {
        const __m512i acc = dot512(lane0_lane8(-off * qsum[t][k], -off * qsum[t][k + 1]), c, q_pair(q[t], k));
        accf[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), s, accf[t]);
      }
    }
    if (k < a.chunks) {
      const __m256i c = codes_one<Bits>(w, k);
      const __m512 s = _mm512_set1_ps(load_scale<F16>(a.scales, srow + k));
      for (int t = 0; t < NT; ++t) {
        const __m256i acc = dot256(_mm256_setr_epi32(-off * qsum[t][k], 0, 0, 0, 0, 0, 0, 0), c, q_one(q[t], k));
        accf[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_zextsi256_si512(acc)), s, accf[t]);
      }
    }
    for (int t = 0; t < NT; ++t) {
      float y = _mm512_reduce_add_ps(accf[t]) / a.xscale[t0 + t];
      if (a.bias != nullptr) y += a.bias[r];
      a.y[(t0 + t) * a.y_stride + r] = y;
    }
  }
}

// Runs of several chunks (or one run a row): integer sums per run.
template <int NT, bool F16, int Bits>
void int8_rows_per_run(const TernaryArgs& a, int64_t t0) {
  const int8_t* q[NT];
  const int32_t* qsum[NT];
  for (int t = 0; t < NT; ++t) {
    q[t] = a.q + (t0 + t) * a.q_stride;
    qsum[t] = a.qsum + (t0 + t) * a.qsum_stride;
  }
  const int32_t off = a.code_offset;
  const int64_t gc = a.groups == 1 ? a.chunks : a.group_cols / kChunkCols;
  for (int64_t r = a.row_begin; r < a.row_end; ++r) {
    const uint8_t* w = a.codes + r * a.chunks * (Bits * kChunkCols / 8);
    const int64_t srow = r * a.scale_stride;
    __m512 accf[NT];
    for (int t = 0; t < NT; ++t) accf[t] = _mm512_setzero_ps();
    for (int64_t g = 0; g < a.groups; ++g) {
      const int64_t k0 = g * gc, k1 = g == a.groups - 1 ? a.chunks : k0 + gc;
      __m512i acc[NT];
      for (int t = 0; t < NT; ++t) acc[t] = _mm512_maskz_set1_epi32(static_cast<__mmask16>(1), -off * qsum[t][g]);
      int64_t k = k0;
      for (; k + 2 <= k1; k += 2) {
        const __m512i c = codes_pair<Bits>(w, k);
        for (int t = 0; t < NT; ++t) acc[t] = dot512(acc[t], c, q_pair(q[t], k));
      }
      if (k < k1) {
        const __m256i c = codes_one<Bits>(w, k);
        for (int t = 0; t < NT; ++t) {
          acc[t] = _mm512_add_epi32(acc[t], _mm512_zextsi256_si512(dot256(_mm256_setzero_si256(), c, q_one(q[t], k))));
        }
      }
      const __m512 s = _mm512_set1_ps(load_scale<F16>(a.scales, srow + g));
      for (int t = 0; t < NT; ++t) accf[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[t]), s, accf[t]);
    }
    for (int t = 0; t < NT; ++t) {
      float y = _mm512_reduce_add_ps(accf[t]) / a.xscale[t0 + t];
      if (a.bias != nullptr) y += a.bias[r];
      a.y[(t0 + t) * a.y_stride + r] = y;
    }
  }
}

template <int NT, bool F16, int Bits>
void int8_rows(const TernaryArgs& a, int64_t t0) {
  if (a.groups > 1 && a.group_cols == kChunkCols) int8_rows_per_chunk<NT, F16, Bits>(a, t0);
  else int8_rows_per_run<NT, F16, Bits>(a, t0);
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
inline __m512 load_w16(const void* w, int64_t i) {
  if (F16) return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + i)));
  return _mm512_loadu_ps(static_cast<const float*>(w) + i);
}

template <bool F16>
inline float load_w1(const void* w, int64_t i) {
  if (F16) return _cvtsh_ss(static_cast<const uint16_t*>(w)[i]);
  return static_cast<const float*>(w)[i];
}

template <int NT, bool F16>
void dense_rows(const DenseArgs& a, int64_t t0) {
  const float* x[NT];
  for (int t = 0; t < NT; ++t) x[t] = a.x + (t0 + t) * a.x_stride;
  for (int64_t r = a.row_begin; r < a.row_end; ++r) {
    const int64_t base = r * a.w_stride;
    __m512 acc0[NT], acc1[NT];
    for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= a.K; k += 32) {
      const __m512 w0 = load_w16<F16>(a.w, base + k), w1 = load_w16<F16>(a.w, base + k + 16);
      for (int t = 0; t < NT; ++t) {
        acc0[t] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x[t] + k), acc0[t]);
        acc1[t] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x[t] + k + 16), acc1[t]);
      }
    }
    for (; k + 16 <= a.K; k += 16) {
      const __m512 w0 = load_w16<F16>(a.w, base + k);
      for (int t = 0; t < NT; ++t) acc0[t] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x[t] + k), acc0[t]);
    }
    for (int t = 0; t < NT; ++t) {
      float y = _mm512_reduce_add_ps(_mm512_add_ps(acc0[t], acc1[t]));
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

}  // namespace seedforge::infer
