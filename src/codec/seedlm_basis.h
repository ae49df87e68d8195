// SeedLM basis U(seed) and the pseudo-inverse of its Gram matrix.
#pragma once

#include <cstdint>

namespace seedforge {

// U(seed), C x P row-major fp32: start the LFSR at `seed`, step it C*P times,
// the state after each step filling V row by row; U = (V - 2^(K-1)) / (2^(K-1) - 1)
// evaluated as one fp32 division of exact integers (correctly rounded), so every
// implementation that divides in fp32 gets the same bits.
void seedlm_basis(int K, uint32_t tap_mask, int C, int P, uint32_t seed, float* U);

// Eigenvalues of U^T U below this share of the largest count as zero. Some
// LFSR windows are exactly rank-deficient (the step is affine in the state, so
// with sparse states one column is half the previous plus a constant); in fp32
// their smallest eigenvalue ratio is rounding noise, <= 1e-15, while genuinely
// full-rank bases stay >= 1e-13 (measured over all seeds for K = 8..16 and the
// paper's C, P), so the rank decision does not hinge on rounding.
constexpr double kSeedLMRankTolerance = 1e-14;

// M = (U^T U)^+ : P x P row-major double, the Moore-Penrose pseudo-inverse of the
// Gram matrix (Jacobi eigen-decomposition, eigenvalues below kSeedLMRankTolerance
// of the largest dropped), so that t = M U^T w are the minimum-norm
// least-squares coefficients of w (C) on U (C x P).
void seedlm_gram_pinv(const float* U, int C, int P, double* M);

// Orthonormal basis of a space containing the column space of U: Qt is P x C
// row-major (its rows are the basis vectors), from modified Gram-Schmidt with
// reorthogonalization in double. A column that is (numerically) dependent
// still gets a unit vector orthogonal to the others, so span(Qt) never misses a
// direction of U: ||Qt w||^2 >= ||projection of w on span(U)||^2 up to rounding.
void seedlm_orthonormal_basis(const float* U, int C, int P, double* Qt);

}  // namespace seedforge
