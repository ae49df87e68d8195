// Causal attention for one (batch, key/value head) pair without materializing
// the [rows, T] score matrix: the flash-attention recurrences on the CPU, for
// the small head dims of models like stories260K (D = 8), where the GEMM-based
// form is bound by memory traffic over the scores. Torch-free.
//
// Dimensions: R query rows, T key positions, D head dim. Row r holds the query
// at position r % T (rep = R / T query heads sharing this KV head are stacked
// row-wise, see train_forward.cpp) and attends keys 0 .. r % T.
//   s_rj = scale * q_r . k_j,  p_rj = exp(s_rj - lse_r),  lse_r = log sum_j exp(s_rj)
//   o_r  = sum_j p_rj v_j
// Backward, with delta_r = dO_r . o_r:
//   ds_rj = p_rj (dO_r . v_j - delta_r)
//   dq_r = scale sum_j ds_rj k_j,  dk_j = scale sum_r ds_rj q_r,  dv_j = sum_r p_rj dO_r
// All tensors fp32, contiguous row-major: q, o, dO, dq [R, D]; k, v, dk, dv [T, D]; lse [R].
#pragma once

#include <cstdint>

namespace seedforge {

struct CausalAttentionShape {
  int64_t rows = 0;  // R, a multiple of t
  int64_t t = 0;     // T
  int64_t d = 0;     // D
  float scale = 1.0f;
};

// Floats of scratch memory one call needs (per thread).
int64_t causal_attention_scratch(const CausalAttentionShape& shape);

// The plain reference loops (any CPU).
void causal_attention_forward_generic(const CausalAttentionShape& s, const float* q, const float* k, const float* v,
                                      float* o, float* lse, float* scratch);
void causal_attention_backward_generic(const CausalAttentionShape& s, const float* q, const float* k, const float* v,
                                       const float* o, const float* lse, const float* d_o, float* dq, float* dk,
                                       float* dv, float* scratch);

// AVX2 + FMA versions (8 keys per instruction); call only when
// causal_attention_avx2_available().
bool causal_attention_avx2_available();
void causal_attention_forward_avx2(const CausalAttentionShape& s, const float* q, const float* k, const float* v,
                                   float* o, float* lse, float* scratch);
void causal_attention_backward_avx2(const CausalAttentionShape& s, const float* q, const float* k, const float* v,
                                    const float* o, const float* lse, const float* d_o, float* dq, float* dk, float* dv,
                                    float* scratch);

}  // namespace seedforge
