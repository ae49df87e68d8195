// An independent, deliberately plain SeedLM reference for the codec tests:
// its own LFSR (a loop over the taps, no popcount), its own least squares
// (normal equations, pivoted Cholesky, minimum norm when rank-deficient), its own exponent choice (a
// linear scan), written from the definition in docs/FORMAT.md, not from the
// library code. Fixed-size arrays only, so that the brute force over 65535
// seeds x 200 blocks stays within a second or two.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace seedlm_ref {

constexpr int kMaxP = 16;
constexpr int kMaxC = 64;

inline uint32_t lfsr_step(uint32_t state, int K, const std::vector<int>& taps) {
  uint32_t bit = 0;
  for (int t : taps) bit ^= (state >> t) & 1u;
  return (state >> 1) | (bit << (K - 1));
}

// U: C x P row-major, fp32 (V - 2^(K-1)) / (2^(K-1) - 1).
inline std::vector<float> basis(int K, const std::vector<int>& taps, int C, int P, uint32_t seed) {
  std::vector<float> U(static_cast<size_t>(C * P));
  uint32_t s = seed;
  const float half = static_cast<float>(1u << (K - 1));
  for (int i = 0; i < C * P; ++i) {
    s = lfsr_step(s, K, taps);
    U[static_cast<size_t>(i)] = (static_cast<float>(s) - half) / (half - 1.0f);
  }
  return U;
}

// Least squares through the Gram matrix G = U^T U with a pivoted Cholesky
// factorization (largest remaining diagonal first). The rank is where the
// largest remaining diagonal drops below 1e-14 of the largest diagonal of G;
// for rank r < P the minimum-norm solution is the basic solution (zeros in
// the P - r unpivoted coordinates) minus its projection on the null space
// N = [-G11^{-1} G12; I].
struct NormalEquations {
  int P = 0, rank = 0;
  int perm[kMaxP];            // pivot order: position i holds column perm[i]
  double g[kMaxP * kMaxP];    // G permuted
  double L[kMaxP * kMaxP];    // r x r lower Cholesky factor of G11
  double N[kMaxP * kMaxP];    // P x (P - r) null-space basis, permuted coordinates
  double NtN_L[kMaxP * kMaxP];  // Cholesky factor of N^T N
  double inv_diag[kMaxP];       // 1 / L[i][i]

  NormalEquations(const std::vector<float>& U, int C, int P_) : P(P_) {
    double G[kMaxP * kMaxP];
    double max_diag = 0.0;
    for (int a = 0; a < P; ++a)
      for (int b = 0; b < P; ++b) {
        double sum = 0.0;
        for (int i = 0; i < C; ++i) sum += static_cast<double>(U[i * P + a]) * U[i * P + b];
        G[a * P + b] = sum;
      }
    for (int a = 0; a < P; ++a) max_diag = std::max(max_diag, G[a * P + a]);
    for (int i = 0; i < P; ++i) perm[i] = i;
    // Work on a copy; S holds the Schur complement as columns are eliminated.
    double S[kMaxP * kMaxP];
    for (int i = 0; i < P * P; ++i) S[i] = G[i];
    for (int i = 0; i < P * P; ++i) L[i] = 0.0;
    rank = 0;
    for (int k = 0; k < P; ++k) {
      int best = k;
      for (int i = k + 1; i < P; ++i)
        if (S[perm[i] * P + perm[i]] > S[perm[best] * P + perm[best]]) best = i;
      if (!(S[perm[best] * P + perm[best]] > 1e-14 * max_diag)) break;
      std::swap(perm[k], perm[best]);
      for (int j = 0; j < k; ++j) std::swap(L[k * P + j], L[best * P + j]);
      const int pk = perm[k];
      const double d = std::sqrt(S[pk * P + pk]);
      L[k * P + k] = d;
      for (int i = k + 1; i < P; ++i) L[i * P + k] = S[perm[i] * P + pk] / d;
      for (int i = k + 1; i < P; ++i)
        for (int j = k + 1; j < P; ++j) S[perm[i] * P + perm[j]] -= L[i * P + k] * L[j * P + k];
      ++rank;
    }
    for (int i = 0; i < rank; ++i) inv_diag[i] = 1.0 / L[i * P + i];
    for (int a = 0; a < P; ++a)
      for (int b = 0; b < P; ++b) g[a * P + b] = G[perm[a] * P + perm[b]];
    const int r = rank, m = P - r;
    // N = [-G11^{-1} G12; I].
    for (int c = 0; c < m; ++c) {
      double rhs[kMaxP], x[kMaxP];
      for (int i = 0; i < r; ++i) rhs[i] = g[i * P + (r + c)];
      solve_g11(rhs, x);
      for (int i = 0; i < r; ++i) N[i * P + c] = -x[i];
      for (int i = 0; i < m; ++i) N[(r + i) * P + c] = i == c ? 1.0 : 0.0;
    }
    // Cholesky of N^T N (m x m, positive definite: it contains I).
    double A[kMaxP * kMaxP];
    for (int a = 0; a < m; ++a)
      for (int b = 0; b < m; ++b) {
        double sum = 0.0;
        for (int i = 0; i < P; ++i) sum += N[i * P + a] * N[i * P + b];
        A[a * P + b] = sum;
      }
    for (int j = 0; j < m; ++j) {
      double d = A[j * P + j];
      for (int k = 0; k < j; ++k) d -= NtN_L[j * P + k] * NtN_L[j * P + k];
      NtN_L[j * P + j] = std::sqrt(d);
      for (int i = j + 1; i < m; ++i) {
        double v = A[i * P + j];
        for (int k = 0; k < j; ++k) v -= NtN_L[i * P + k] * NtN_L[j * P + k];
        NtN_L[i * P + j] = v / NtN_L[j * P + j];
      }
    }
  }

  // x = G11^{-1} rhs through L L^T (r x r).
  void solve_g11(const double* rhs, double* x) const {
    double y[kMaxP];
    for (int i = 0; i < rank; ++i) {
      double v = rhs[i];
      for (int k = 0; k < i; ++k) v -= L[i * P + k] * y[k];
      y[i] = v * inv_diag[i];
    }
    for (int i = rank - 1; i >= 0; --i) {
      double v = y[i];
      for (int k = i + 1; k < rank; ++k) v -= L[k * P + i] * x[k];
      x[i] = v * inv_diag[i];
    }
  }

  // Minimum-norm solution of G t = b.
  void solve(const double* b, double* t) const {
    const int r = rank, m = P - r;
    double bp[kMaxP] = {}, tp[kMaxP] = {};
    for (int i = 0; i < P; ++i) bp[i] = b[perm[i]];
    solve_g11(bp, tp);  // basic solution: tp[r..P) = 0
    if (m > 0) {
      // Remove the null-space component: tp -= N (N^T N)^{-1} N^T tp.
      double c[kMaxP], y[kMaxP], z[kMaxP];
      for (int a = 0; a < m; ++a) {
        c[a] = 0.0;
        for (int i = 0; i < P; ++i) c[a] += N[i * P + a] * tp[i];
      }
      for (int i = 0; i < m; ++i) {
        double v = c[i];
        for (int k = 0; k < i; ++k) v -= NtN_L[i * P + k] * y[k];
        y[i] = v / NtN_L[i * P + i];
      }
      for (int i = m - 1; i >= 0; --i) {
        double v = y[i];
        for (int k = i + 1; k < m; ++k) v -= NtN_L[k * P + i] * z[k];
        z[i] = v / NtN_L[i * P + i];
      }
      for (int i = 0; i < P; ++i)
        for (int a = 0; a < m; ++a) tp[i] -= N[i * P + a] * z[a];
    }
    for (int i = 0; i < P; ++i) t[perm[i]] = tp[i];
  }
};

struct Fit {
  uint32_t seed = 0;
  int exponent = 0;
  int q[kMaxP] = {};
  double error = std::numeric_limits<double>::infinity();
};

// The lexicographic order (error, seed) that decides the winner.
inline bool better(const Fit& a, const Fit& b) { return a.error < b.error || (a.error == b.error && a.seed < b.seed); }

// Exponent and mantissa ranges with exact powers of two, built once.
struct Quantizer {
  int Q, E, emin, emax, qmin, qmax;
  double limit;          // 2^(Q-1) - 1/2
  double pow2[256];      // pow2[e - emin] = 2^e (repeated doubling: exact)
  double inv_pow2[256];  // 2^-e
  Quantizer(int Q_, int E_) : Q(Q_), E(E_) {
    emin = -(1 << (E - 1));
    emax = (1 << (E - 1)) - 1;
    qmin = -(1 << (Q - 1));
    qmax = (1 << (Q - 1)) - 1;
    limit = (1 << (Q - 1)) - 0.5;
    double p = 1.0;
    for (int e = 0; e > emin; --e) p /= 2.0;
    for (int i = 0; i <= emax - emin; ++i, p *= 2.0) {
      pow2[i] = p;
      inv_pow2[i] = 1.0 / p;
    }
  }
};

inline Fit fit(const float* w, const std::vector<float>& U, const NormalEquations& ne, int C, int P,
               const Quantizer& qz) {
  double b[kMaxP] = {}, t[kMaxP];
  for (int j = 0; j < C; ++j)
    for (int i = 0; i < P; ++i) b[i] += static_cast<double>(U[j * P + i]) * w[j];
  ne.solve(b, t);
  double m = 0.0;
  for (int i = 0; i < P; ++i) m = std::max(m, std::fabs(t[i]));
  // e0: the first exponent, scanning up from emin, at which no mantissa clamps.
  int e0 = qz.emax;
  for (int e = qz.emin; e <= qz.emax; ++e) {
    if (m < qz.limit * qz.pow2[e - qz.emin]) {
      e0 = e;
      break;
    }
  }
  Fit f;
  for (int e : {e0, e0 - 1, e0 + 1}) {
    if (e < qz.emin || e > qz.emax) continue;
    const double step = qz.pow2[e - qz.emin];
    int q[kMaxP];
    for (int i = 0; i < P; ++i) {
      // Round half away from zero: truncate, then compare the exact remainder with 1/2.
      const double x = std::min<double>(qz.qmax + 1, std::max<double>(qz.qmin - 1, t[i] * qz.inv_pow2[e - qz.emin]));
      int r = static_cast<int>(x);
      const double frac = x - r;
      r += static_cast<int>(frac >= 0.5) - static_cast<int>(frac <= -0.5);
      q[i] = std::min(qz.qmax, std::max(qz.qmin, r));
    }
    // Residual w - U d, d = q 2^e, column by column (independent rows: no long chains).
    double res[kMaxC];
    for (int j = 0; j < C; ++j) res[j] = w[j];
    for (int i = 0; i < P; ++i) {
      const double d = q[i] * step;
      for (int j = 0; j < C; ++j) res[j] -= static_cast<double>(U[j * P + i]) * d;
    }
    double err = 0.0;
    for (int j = 0; j < C; ++j) err += res[j] * res[j];
    if (err < f.error) {
      f.error = err;
      f.exponent = e;
      for (int i = 0; i < P; ++i) f.q[i] = q[i];
    }
  }
  return f;
}

}  // namespace seedlm_ref
