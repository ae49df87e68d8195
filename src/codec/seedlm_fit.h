// Fitting one SeedLM block to one seed's basis: the per-seed error that the
// seed search minimizes. The definition (docs/FORMAT.md, "SeedLM bitstream"):
//
//   t  = (U^T U)^+ U^T w                 least-squares coefficients (double)
//   e0 = smallest e in [emin, emax] with max_i |t_i| < (2^(Q-1) - 1/2) * 2^e,
//        emax if none, emin if t = 0     (no mantissa clamps at e0)
//   for e in (e0, e0-1, e0+1), those inside [emin, emax]:
//     q_i   = clamp(round_half_away(t_i / 2^e), -2^(Q-1), 2^(Q-1) - 1)
//     error = sum_j (w_j - sum_i U_ji q_i 2^e)^2       (double, j then i ascending)
//   keep the first e of least error.
//
// w is the block already divided by the tensor scale (fp32 values); U is the fp32
// basis from seedlm_basis(); everything after is double.
#pragma once

#include <cstdint>

#include "codec/seedlm_params.h"

namespace seedforge {

struct SeedLMBlockCode {
  uint32_t seed = 0;
  int exponent = 0;
  int8_t q[kSeedLMMaxP] = {};
  double error = 0.0;  // squared error of the block in scaled units
};

// The exponent e0 above for coefficients of largest magnitude max_abs.
int seedlm_start_exponent(double max_abs, int Q, int E);

// w (C), U (C x P), M = (U^T U)^+ (P x P): fills exponent, q and error of `out`
// (seed is left to the caller).
void seedlm_fit_seed(const float* w, const float* U, const double* M, int C, int P, int Q, int E,
                     SeedLMBlockCode* out);

// Decoded block in scaled units: out_j = sum_i U_ji q_i 2^e (double), j < C.
void seedlm_reconstruct(const float* U, int C, int P, const int8_t* q, int exponent, double* out);

}  // namespace seedforge
