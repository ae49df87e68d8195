// The reference causal attention loops (definitions in causal_attention_kernel.h).
#include <algorithm>
#include <cmath>
#include <limits>

#include "common/cpu_isa.h"
#include "train/causal_attention_kernel.h"

namespace seedforge {

int64_t causal_attention_scratch(const CausalAttentionShape& s) {
  const int64_t t8 = (s.t + 7) / 8 * 8;
  return 2 * t8 + 4 * s.d * t8;  // scores/probabilities, dp, and kT, vT, dkT, dvT for the AVX2 kernel
}

void causal_attention_forward_generic(const CausalAttentionShape& s, const float* q, const float* k, const float* v,
                                      float* o, float* lse, float* scratch) {
  float* p = scratch;  // [T]
  for (int64_t r = 0; r < s.rows; ++r) {
    const int64_t keys = r % s.t + 1;
    const float* qr = q + r * s.d;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < keys; ++j) {
      float dot = 0.0f;
      for (int64_t c = 0; c < s.d; ++c) dot += qr[c] * k[j * s.d + c];
      p[j] = s.scale * dot;
      m = std::max(m, p[j]);
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < keys; ++j) {
      p[j] = std::exp(p[j] - m);
      sum += p[j];
    }
    float* orow = o + r * s.d;
    for (int64_t c = 0; c < s.d; ++c) {
      float acc = 0.0f;
      for (int64_t j = 0; j < keys; ++j) acc += p[j] * v[j * s.d + c];
      orow[c] = acc / sum;
    }
    lse[r] = m + std::log(sum);
  }
}

void causal_attention_backward_generic(const CausalAttentionShape& s, const float* q, const float* k, const float* v,
                                       const float* o, const float* lse, const float* d_o, float* dq, float* dk,
                                       float* dv, float* /*scratch*/) {
  std::fill(dk, dk + s.t * s.d, 0.0f);
  std::fill(dv, dv + s.t * s.d, 0.0f);
  for (int64_t r = 0; r < s.rows; ++r) {
    const int64_t keys = r % s.t + 1;
    const float* qr = q + r * s.d;
    const float* gr = d_o + r * s.d;
    float delta = 0.0f;
    for (int64_t c = 0; c < s.d; ++c) delta += gr[c] * o[r * s.d + c];
    float* dqr = dq + r * s.d;
    std::fill(dqr, dqr + s.d, 0.0f);
    for (int64_t j = 0; j < keys; ++j) {
      float dot = 0.0f, dp = 0.0f;
      for (int64_t c = 0; c < s.d; ++c) {
        dot += qr[c] * k[j * s.d + c];
        dp += gr[c] * v[j * s.d + c];
      }
      const float p = std::exp(s.scale * dot - lse[r]);
      const float ds = p * (dp - delta);
      for (int64_t c = 0; c < s.d; ++c) {
        dqr[c] += s.scale * ds * k[j * s.d + c];
        dk[j * s.d + c] += s.scale * ds * qr[c];
        dv[j * s.d + c] += p * gr[c];
      }
    }
  }
}

#if !defined(SEEDFORGE_TRAIN_X86_KERNELS)
bool causal_attention_avx2_available() { return false; }
void causal_attention_forward_avx2(const CausalAttentionShape& s, const float* q, const float* k, const float* v,
                                   float* o, float* lse, float* scratch) {
  causal_attention_forward_generic(s, q, k, v, o, lse, scratch);
}
void causal_attention_backward_avx2(const CausalAttentionShape& s, const float* q, const float* k, const float* v,
                                    const float* o, const float* lse, const float* d_o, float* dq, float* dk, float* dv,
                                    float* scratch) {
  causal_attention_backward_generic(s, q, k, v, o, lse, d_o, dq, dk, dv, scratch);
}
#else
bool causal_attention_avx2_available() { return cpu_has_isa(Isa::kAvx2); }
#endif

}  // namespace seedforge
