// The inner loops of the SeedLM seed search. For a tile of blocks (one per SIMD
// lane) and a range of seeds they compute fp32 projection norms ||proj_U(s) w||^2
// and compare them with a per-block threshold. Seeds that reach it are
// candidates the caller fits exactly; the others are proven worse than the
// block's best so far (the thresholds include rounding-error margins).
//
// Two kernels:
//   direct  any list of seeds: norm = ||Qt(s) w||^2 with Qt(s) (P x C) an
//           orthonormal basis of U(s)'s columns, i.e. a (seeds*P x C) by
//           (C x lanes) product; P*C + P multiply-adds per seed and block.
//   slide   consecutive positions p of the LFSR cycle (exhaustive search): the
//           basis of position p+1 is that of p shifted by one LFSR step, so
//           U(p)^T w = (r_{p+1}, ..., r_{p+P}) with r_m = sum_j u_{m+jP} w_j, one
//           new r (C multiply-adds) per position; norm = ||L_p^{-1} U^T w||^2 with
//           L_p the Cholesky factor of U^T U: C + P(P+1)/2 + P + 1 multiply-adds.
//
// One sibling file per instruction set (seedlm_scan_generic.cpp, _avx2.cpp,
// _avx512.cpp) instantiates the same templates from seedlm_scan_kernel.h with
// its own compiler flags; seedlm_scan.cpp picks one at run time.
#pragma once

#include <cstdint>

#include "common/cpu_isa.h"

namespace seedforge {

struct SeedLMScanArgs {
  const float* qt = nullptr;  // [n_seeds][P][C] (SeedLMSeedTable::Qt or a subset)
  int C = 0, P = 0;
  int64_t begin = 0, end = 0;  // rows of qt to scan
  const float* wt = nullptr;   // [C][lanes]: block b's values in column b
  // Threshold mode (norms == nullptr): seed s is a candidate for lane b when
  // norm(s, b) >= thr[b]; candidates go to cand_index/cand_mask (bit b = lane b).
  const float* thr = nullptr;  // [lanes]
  uint32_t* cand_index = nullptr;
  uint32_t* cand_mask = nullptr;
  int64_t cand_cap = 0;  // the scan returns early when this many are stored
  int64_t n_cand = 0;    // out
  // Norm mode: norms[(s - begin) * lanes + b] = norm(s, b).
  float* norms = nullptr;
};

struct SeedLMSlideArgs {
  const float* u = nullptr;     // [positions + C*P + 1] basis values u_m of the cycle's states
  const float* linv = nullptr;  // [positions][P(P+1)/2] L_p^{-1}, lower triangle row by row
  const float* mu = nullptr;    // [positions] margin per position (-inf: never a candidate)
  int C = 0, P = 0;
  int64_t begin = 0, end = 0;  // positions to scan
  const float* wt = nullptr;   // [C][lanes]
  const float* wn2 = nullptr;  // [lanes] ||w||^2, rounded up
  // Candidate when norm + mu[p] * wn2[b] >= thr[b]; same outputs as SeedLMScanArgs.
  const float* thr = nullptr;
  uint32_t* cand_index = nullptr;  // positions
  uint32_t* cand_mask = nullptr;
  int64_t cand_cap = 0;
  int64_t n_cand = 0;
  // Norm mode: norms[(p - begin) * lanes + b] = norm + mu[p] * wn2[b].
  float* norms = nullptr;
};

// Scan from begin; return the index after the last one examined (end, or
// earlier when the candidate buffer filled up).
using SeedLMScanFn = int64_t (*)(SeedLMScanArgs* args);
using SeedLMSlideFn = int64_t (*)(SeedLMSlideArgs* args);

// Both kernels for one (C, P) and instruction set, with the same tile width.
struct SeedLMScanKernel {
  SeedLMScanFn fn = nullptr;     // direct
  SeedLMSlideFn slide = nullptr;
  int lanes = 0;  // blocks per tile, at most 32
  Isa isa = Isa::kGeneric;
};

bool seedlm_isa_supported(Isa isa);  // compiled in and supported by this CPU
// The highest supported level at most isa_ceiling() (common/cpu_isa.h: the
// CPU's best, or the one the environment variable SEEDFORGE_ISA names).
Isa seedlm_default_isa();
// Kernels for (C, P): compile-time specialized for (8, 4), (8, 3), (12, 4), a
// loop over runtime C and P otherwise. Throws usage_error when isa is not supported.
SeedLMScanKernel seedlm_scan_kernel(int C, int P, Isa isa);
// Not inline: this header is also compiled with AVX-512 flags (seedlm_scan_kernel.h).
SeedLMScanKernel seedlm_scan_kernel(int C, int P);

// Per-instruction-set entry points (seedlm_scan_<isa>.cpp).
SeedLMScanKernel seedlm_scan_kernel_generic(int C, int P);
SeedLMScanKernel seedlm_scan_kernel_avx2(int C, int P);
SeedLMScanKernel seedlm_scan_kernel_avx512(int C, int P);

}  // namespace seedforge
