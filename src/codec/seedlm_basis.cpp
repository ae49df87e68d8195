#include "codec/seedlm_basis.h"

#include <cmath>
#include <vector>

#include "codec/lfsr.h"
#include "codec/seedlm_params.h"

namespace seedforge {

void seedlm_basis(int K, uint32_t tap_mask, int C, int P, uint32_t seed, float* U) {
  uint32_t states[kSeedLMMaxC * kSeedLMMaxP];
  const int n = C * P;
  lfsr_states(seed, K, tap_mask, n, states);
  const float half = static_cast<float>(uint32_t{1} << (K - 1));
  const float denom = half - 1.0f;  // 0 for K=1, which the table excludes
  for (int i = 0; i < n; ++i) U[i] = (static_cast<float>(states[i]) - half) / denom;
}

namespace {

// Cyclic Jacobi eigen-decomposition of a symmetric n x n matrix A (destroyed):
// eigenvalues into lambda, eigenvectors into the columns of V (row-major).
void jacobi_eigen(double* A, int n, double* lambda, double* V) {
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) V[i * n + j] = i == j ? 1.0 : 0.0;
  for (int sweep = 0; sweep < 64; ++sweep) {
    double off = 0.0, diag = 0.0;
    for (int i = 0; i < n; ++i) {
      diag += A[i * n + i] * A[i * n + i];
      for (int j = i + 1; j < n; ++j) off += A[i * n + j] * A[i * n + j];
    }
    if (off <= 1e-32 * diag || off == 0.0) break;
    for (int p = 0; p < n; ++p) {
      for (int q = p + 1; q < n; ++q) {
        const double apq = A[p * n + q];
        if (apq == 0.0) continue;
        const double theta = (A[q * n + q] - A[p * n + p]) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (int k = 0; k < n; ++k) {  // A <- A J (columns p, q)
          const double akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; ++k) {  // A <- J^T A (rows p, q)
          const double apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (int k = 0; k < n; ++k) {  // V <- V J
          const double vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  for (int i = 0; i < n; ++i) lambda[i] = A[i * n + i];
}

}  // namespace

void seedlm_gram_pinv(const float* U, int C, int P, double* M) {
  double G[kSeedLMMaxP * kSeedLMMaxP];
  for (int a = 0; a < P; ++a)
    for (int b = 0; b < P; ++b) {
      double sum = 0.0;
      for (int i = 0; i < C; ++i) sum += static_cast<double>(U[i * P + a]) * U[i * P + b];
      G[a * P + b] = sum;
    }
  double lambda[kSeedLMMaxP], V[kSeedLMMaxP * kSeedLMMaxP];
  jacobi_eigen(G, P, lambda, V);
  double lambda_max = 0.0;
  for (int k = 0; k < P; ++k) lambda_max = std::fmax(lambda_max, lambda[k]);
  for (int a = 0; a < P; ++a)
    for (int b = 0; b < P; ++b) {
      double sum = 0.0;
      for (int k = 0; k < P; ++k)
        if (lambda[k] > kSeedLMRankTolerance * lambda_max) sum += V[a * P + k] * V[b * P + k] / lambda[k];
      M[a * P + b] = sum;
    }
}

void seedlm_orthonormal_basis(const float* U, int C, int P, double* Qt) {
  double v[kSeedLMMaxC];
  for (int k = 0; k < P; ++k) {
    for (int i = 0; i < C; ++i) v[i] = U[i * P + k];
    // Two passes of modified Gram-Schmidt make v orthogonal to working precision;
    // a third after normalizing covers a column that was nearly dependent (its
    // tiny remainder is then mostly rounding noise, amplified by the division).
    for (int pass = 0; pass < 3; ++pass) {
      for (int j = 0; j < k; ++j) {
        double dot = 0.0;
        for (int i = 0; i < C; ++i) dot += Qt[j * C + i] * v[i];
        for (int i = 0; i < C; ++i) v[i] -= dot * Qt[j * C + i];
      }
      double norm = 0.0;
      for (int i = 0; i < C; ++i) norm += v[i] * v[i];
      norm = std::sqrt(norm);
      if (norm == 0.0) {
        // Exactly dependent: any unit vector orthogonal to the others will do;
        // take the first coordinate axis that still has a remainder.
        for (int axis = 0; axis < C && norm == 0.0; ++axis) {
          for (int i = 0; i < C; ++i) v[i] = i == axis ? 1.0 : 0.0;
          for (int j = 0; j < k; ++j) {
            const double dot = Qt[j * C + axis];
            for (int i = 0; i < C; ++i) v[i] -= dot * Qt[j * C + i];
          }
          norm = 0.0;
          for (int i = 0; i < C; ++i) norm += v[i] * v[i];
          norm = std::sqrt(norm);
          if (norm < 1e-6) norm = 0.0;
        }
      }
      for (int i = 0; i < C; ++i) v[i] /= norm;
    }
    for (int i = 0; i < C; ++i) Qt[k * C + i] = v[i];
  }
}

}  // namespace seedforge
