// One query row of causal attention, included by every kernels_<isa>.cpp so
// that the compiler vectorizes the same loops with each file's instruction
// set. Internal linkage, nothing from the standard library (see
// kernels_avx2.cpp).
//
// Keys are stored transposed per key/value head (positions contiguous for
// each of the D dimensions), so the scores of all positions are D passes over
// contiguous memory, whatever D is (8 for stories260K, 64 for Llama-sized
// heads); values stay one row of D per position and are summed in blocks of
// 8 dimensions held in registers. Maximum and sum run in 8 partial lanes, and
// exp is a polynomial (below) that vectorizes: the softmax differs from a
// libm one by a few ulp, as libtorch's vectorized (Sleef) exp does.
#pragma once

#include "infer/kernels.h"

namespace seedforge::infer {

namespace {

// exp(x) for x <= 0 (scores minus their maximum), within 2 ulp of the true
// value down to where it underflows: 2^n * p(r), n = round(x / ln 2),
// r = x - n ln 2 (in two parts), p the degree-6 Taylor/Cephes polynomial.
inline float exp_nonpositive(float x) {
  if (x < -87.0f) return 0.0f;
  // Round to nearest by adding and subtracting 1.5 * 2^23 (vectorizes on any SSE level).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  __builtin_memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

void attend_impl(const AttentionArgs& a) {
  float* s = a.scores;
  const int64_t n = a.n, D = a.D;
  for (int64_t j = 0; j < n; ++j) s[j] = 0.0f;
  for (int64_t d = 0; d < D; ++d) {
    const float qd = a.q[d];
    const float* row = a.kt + d * a.k_stride;
    for (int64_t j = 0; j < n; ++j) s[j] += qd * row[j];
  }
  float m8[8];
  for (int k = 0; k < 8; ++k) m8[k] = s[0];
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    for (int k = 0; k < 8; ++k) m8[k] = s[j + k] > m8[k] ? s[j + k] : m8[k];
  }
  float max = m8[0];
  for (int k = 1; k < 8; ++k) max = m8[k] > max ? m8[k] : max;
  for (; j < n; ++j) max = s[j] > max ? s[j] : max;
  float sum8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (j = 0; j + 8 <= n; j += 8) {
    for (int k = 0; k < 8; ++k) {
      s[j + k] = exp_nonpositive(s[j + k] - max);
      sum8[k] += s[j + k];
    }
  }
  float sum = ((sum8[0] + sum8[1]) + (sum8[2] + sum8[3])) + ((sum8[4] + sum8[5]) + (sum8[6] + sum8[7]));
  for (; j < n; ++j) {
    s[j] = exp_nonpositive(s[j] - max);
    sum += s[j];
  }
  const float inv = 1.0f / sum;
  for (j = 0; j < n; ++j) s[j] *= inv;
  int64_t d0 = 0;
  for (; d0 + 8 <= D; d0 += 8) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (j = 0; j < n; ++j) {
      const float* v = a.v + j * a.v_stride + d0;
      for (int k = 0; k < 8; ++k) acc[k] += s[j] * v[k];
    }
    for (int k = 0; k < 8; ++k) a.out[d0 + k] = acc[k];
  }
  for (; d0 < D; ++d0) {
    float acc = 0.0f;
    for (j = 0; j < n; ++j) acc += s[j] * a.v[j * a.v_stride + d0];
    a.out[d0] = acc;
  }
}

}  // namespace

}  // namespace seedforge::infer
