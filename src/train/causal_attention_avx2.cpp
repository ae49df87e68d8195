// AVX2 + FMA causal attention (definitions in causal_attention_kernel.h):
// eight keys per instruction, keys and values transposed to [D, T8] so that
// the loops over keys are contiguous; exp by the Cephes expf polynomial
// (about 1 ulp). Compiled with -mavx2 -mfma, called only after
// causal_attention_avx2_available().
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "train/causal_attention_kernel.h"

namespace seedforge {

namespace {

inline __m256 exp256(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3365478515625f)), _mm256_set1_ps(88.3762626647949f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = x - n ln2, ln2 split in two for precision (Cephes).
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 r2 = _mm256_mul_ps(r, r);
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

inline float hsum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

inline float hmax(__m256 v) {
  __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_max_ps(x, _mm_movehl_ps(x, x));
  x = _mm_max_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

// x [T, D] -> xT [D, T8], zero-padded.
void transpose_pad(const float* x, int64_t t, int64_t d, int64_t t8, float* xt) {
  std::fill(xt, xt + d * t8, 0.0f);
  for (int64_t j = 0; j < t; ++j) {
    for (int64_t c = 0; c < d; ++c) xt[c * t8 + j] = x[j * d + c];
  }
}

// s[0 .. l8) = scale * q . k_j (keys past the row's last are computed too and masked by the caller).
inline void scores(const float* qr, const float* kt, int64_t d, int64_t t8, int64_t l8, float scale, float* s) {
  for (int64_t j0 = 0; j0 < l8; j0 += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t c = 0; c < d; ++c) {
      acc = _mm256_fmadd_ps(_mm256_set1_ps(scale * qr[c]), _mm256_loadu_ps(kt + c * t8 + j0), acc);
    }
    _mm256_storeu_ps(s + j0, acc);
  }
}

}  // namespace

void causal_attention_forward_avx2(const CausalAttentionShape& sh, const float* q, const float* k, const float* v,
                                   float* o, float* lse, float* scratch) {
  const int64_t d = sh.d, t = sh.t, t8 = (t + 7) / 8 * 8;
  float* p = scratch;
  float* kt = scratch + 2 * t8;
  float* vt = kt + d * t8;
  transpose_pad(k, t, d, t8, kt);
  transpose_pad(v, t, d, t8, vt);
  for (int64_t r = 0; r < sh.rows; ++r) {
    const int64_t keys = r % t + 1, l8 = (keys + 7) / 8 * 8;
    scores(q + r * d, kt, d, t8, l8, sh.scale, p);
    for (int64_t j = keys; j < l8; ++j) p[j] = -std::numeric_limits<float>::infinity();
    __m256 vmax = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    for (int64_t j0 = 0; j0 < l8; j0 += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(p + j0));
    const float m = hmax(vmax);
    const __m256 vm = _mm256_set1_ps(m);
    for (int64_t j0 = 0; j0 < l8; j0 += 8) _mm256_storeu_ps(p + j0, exp256(_mm256_sub_ps(_mm256_loadu_ps(p + j0), vm)));
    for (int64_t j = keys; j < l8; ++j) p[j] = 0.0f;
    __m256 vsum = _mm256_setzero_ps();
    for (int64_t j0 = 0; j0 < l8; j0 += 8) vsum = _mm256_add_ps(vsum, _mm256_loadu_ps(p + j0));
    const float sum = hsum(vsum);
    for (int64_t c = 0; c < d; ++c) {
      __m256 acc = _mm256_setzero_ps();
      for (int64_t j0 = 0; j0 < l8; j0 += 8) {
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + j0), _mm256_loadu_ps(vt + c * t8 + j0), acc);
      }
      o[r * d + c] = hsum(acc) / sum;
    }
    lse[r] = m + std::log(sum);
  }
}

void causal_attention_backward_avx2(const CausalAttentionShape& sh, const float* q, const float* k, const float* v,
                                    const float* o, const float* lse, const float* d_o, float* dq, float* dk, float* dv,
                                    float* scratch) {
  const int64_t d = sh.d, t = sh.t, t8 = (t + 7) / 8 * 8;
  float* p = scratch;
  float* ds = scratch + t8;
  float* kt = scratch + 2 * t8;
  float* vt = kt + d * t8;
  float* dkt = vt + d * t8;
  float* dvt = dkt + d * t8;
  transpose_pad(k, t, d, t8, kt);
  transpose_pad(v, t, d, t8, vt);
  std::fill(dkt, dkt + 2 * d * t8, 0.0f);
  for (int64_t r = 0; r < sh.rows; ++r) {
    const int64_t keys = r % t + 1, l8 = (keys + 7) / 8 * 8;
    const float* qr = q + r * d;
    const float* gr = d_o + r * d;
    scores(qr, kt, d, t8, l8, sh.scale, p);
    const __m256 vl = _mm256_set1_ps(lse[r]);
    for (int64_t j0 = 0; j0 < l8; j0 += 8) _mm256_storeu_ps(p + j0, exp256(_mm256_sub_ps(_mm256_loadu_ps(p + j0), vl)));
    for (int64_t j = keys; j < l8; ++j) p[j] = 0.0f;
    float delta = 0.0f;
    for (int64_t c = 0; c < d; ++c) delta += gr[c] * o[r * d + c];
    const __m256 vdelta = _mm256_set1_ps(delta);
    for (int64_t j0 = 0; j0 < l8; j0 += 8) {
      __m256 dp = _mm256_setzero_ps();
      for (int64_t c = 0; c < d; ++c) dp = _mm256_fmadd_ps(_mm256_set1_ps(gr[c]), _mm256_loadu_ps(vt + c * t8 + j0), dp);
      _mm256_storeu_ps(ds + j0, _mm256_mul_ps(_mm256_loadu_ps(p + j0), _mm256_sub_ps(dp, vdelta)));
    }
    for (int64_t c = 0; c < d; ++c) {
      const __m256 qc = _mm256_set1_ps(sh.scale * qr[c]);
      const __m256 gc = _mm256_set1_ps(gr[c]);
      __m256 acc = _mm256_setzero_ps();
      float* dk_row = dkt + c * t8;
      float* dv_row = dvt + c * t8;
      const float* k_row = kt + c * t8;
      for (int64_t j0 = 0; j0 < l8; j0 += 8) {
        const __m256 dsj = _mm256_loadu_ps(ds + j0);
        acc = _mm256_fmadd_ps(dsj, _mm256_loadu_ps(k_row + j0), acc);
        _mm256_storeu_ps(dk_row + j0, _mm256_fmadd_ps(qc, dsj, _mm256_loadu_ps(dk_row + j0)));
        _mm256_storeu_ps(dv_row + j0, _mm256_fmadd_ps(gc, _mm256_loadu_ps(p + j0), _mm256_loadu_ps(dv_row + j0)));
      }
      dq[r * d + c] = sh.scale * hsum(acc);
    }
  }
  for (int64_t j = 0; j < t; ++j) {
    for (int64_t c = 0; c < d; ++c) {
      dk[j * d + c] = dkt[c * t8 + j];
      dv[j * d + c] = dvt[c * t8 + j];
    }
  }
}

}  // namespace seedforge
