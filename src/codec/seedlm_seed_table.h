// Per-parameter-set tables the seed search reads for every block: computed once
// per (K, taps, C, P, seed_candidates) and shared across tensors and threads.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "codec/seedlm_params.h"

namespace seedforge {

// Exhaustive search only: the seeds in LFSR cycle order for the sliding kernel
// (seedlm_scan.h). Position p holds the seed x_p, x_0 = 1, x_{p+1} = step(x_p);
// its basis is u_{p+1} .. u_{p+C*P} row by row, u_m the basis value of x_m.
struct SeedLMSlideTable {
  int64_t n_positions = 0;
  std::vector<float> u;          // [n_positions + C*P + 1]
  std::vector<uint32_t> index;   // [n_positions] table index (seed - 1) of position p
  std::vector<float> linv;       // [n_positions][P(P+1)/2] L^{-1}, U^T U = L L^T, rows packed
  // Margin per position as a share of ||w||^2 covering the kernel's rounding
  // (from ||L^{-1}||_F ||U||_F); -inf for the irregular positions below.
  std::vector<float> mu;
  // Ill-conditioned bases (margin above 1e-3, or no Cholesky factor: the
  // rank-deficient ones) are scanned by the direct kernel instead.
  std::vector<uint32_t> irregular;  // table indices, ascending
  std::vector<float> irregular_qt;  // [irregular.size()][P][C] their Qt rows
};

struct SeedLMSeedTable {
  int C = 0, P = 0;
  int64_t n_seeds = 0;
  std::vector<uint32_t> seeds;  // [n_seeds] seed values, ascending
  std::vector<float> U;         // [n_seeds][C][P] bases (fp32, as decoded)
  std::vector<double> M;        // [n_seeds][P][P] (U^T U)^+
  std::vector<float> Qt;        // [n_seeds][P][C] orthonormal rows spanning U's columns, fp32
  // Pruning margin as a share of ||w||^2: the fp32 bound ||w||^2 - ||Qt w||^2
  // minus margin_rel * ||w||^2 never exceeds the least-squares residual.
  double margin_rel = 0.0;
  double max_orthonormality_error = 0.0;  // max |Qt Qt^T - I| over seeds, after fp32 rounding
  std::unique_ptr<SeedLMSlideTable> slide;  // exhaustive tables only

  const float* basis(int64_t index) const { return U.data() + index * C * P; }
  const double* gram_pinv(int64_t index) const { return M.data() + index * P * P; }
  const float* qt(int64_t index) const { return Qt.data() + index * P * C; }
};

// Builds (threads: 0 = all cores) or returns the cached table for params
// (already validated). Throws usage_error when the table would exceed
// 4 GiB (e.g. exhaustive K=24): use seed_candidates then.
std::shared_ptr<const SeedLMSeedTable> seedlm_seed_table(const SeedLMParams& params);

// Bytes the table for params would take.
int64_t seedlm_seed_table_bytes(const SeedLMParams& params);

}  // namespace seedforge
