#include "codec/seedlm_fit.h"

#include <algorithm>
#include <cmath>

namespace seedforge {

int seedlm_start_exponent(double max_abs, int Q, int E) {
  const int emin = -(1 << (E - 1)), emax = (1 << (E - 1)) - 1;
  if (!(max_abs > 0.0)) return emin;
  const double limit = static_cast<double>(1 << (Q - 1)) - 0.5;  // exact
  // Start from the binary exponent of max_abs / limit, then settle it with exact
  // comparisons (ldexp is exact), so rounding in the division cannot matter.
  int e;
  std::frexp(max_abs / limit, &e);
  e = std::clamp(e, emin, emax);
  while (e > emin && max_abs < std::ldexp(limit, e - 1)) --e;
  while (e < emax && !(max_abs < std::ldexp(limit, e))) ++e;
  return e;
}

void seedlm_reconstruct(const float* U, int C, int P, const int8_t* q, int exponent, double* out) {
  const double step = std::ldexp(1.0, exponent);
  double d[kSeedLMMaxP];
  for (int i = 0; i < P; ++i) d[i] = q[i] * step;  // exact
  for (int j = 0; j < C; ++j) {
    double sum = 0.0;
    for (int i = 0; i < P; ++i) sum += static_cast<double>(U[j * P + i]) * d[i];
    out[j] = sum;
  }
}

void seedlm_fit_seed(const float* w, const float* U, const double* M, int C, int P, int Q, int E,
                     SeedLMBlockCode* out) {
  // z = U^T w, t = M z.
  double z[kSeedLMMaxP], t[kSeedLMMaxP];
  for (int i = 0; i < P; ++i) z[i] = 0.0;
  for (int j = 0; j < C; ++j) {
    const double wj = w[j];
    for (int i = 0; i < P; ++i) z[i] += static_cast<double>(U[j * P + i]) * wj;
  }
  double max_abs = 0.0;
  for (int a = 0; a < P; ++a) {
    double sum = 0.0;
    for (int b = 0; b < P; ++b) sum += M[a * P + b] * z[b];
    t[a] = sum;
    max_abs = std::fmax(max_abs, std::fabs(sum));
  }
  const int emin = -(1 << (E - 1)), emax = (1 << (E - 1)) - 1;
  const int qmin = -(1 << (Q - 1)), qmax = (1 << (Q - 1)) - 1;
  const int e0 = seedlm_start_exponent(max_abs, Q, E);
  const int tries[3] = {e0, e0 - 1, e0 + 1};
  bool have = false;
  for (int e : tries) {
    if (e < emin || e > emax) continue;
    // Powers of two: the scaling below is exact.
    const double inv_step = std::ldexp(1.0, -e);
    int8_t q[kSeedLMMaxP];
    for (int i = 0; i < P; ++i) {
      // Round half away from zero, then clamp: on [qmin - 1, qmax + 1] the
      // truncating conversion and the remainder x - trunc(x) are exact.
      const double x = std::clamp(t[i] * inv_step, static_cast<double>(qmin - 1), static_cast<double>(qmax + 1));
      int r = static_cast<int>(x);
      const double frac = x - r;
      r += static_cast<int>(frac >= 0.5) - static_cast<int>(frac <= -0.5);
      q[i] = static_cast<int8_t>(std::clamp(r, qmin, qmax));
    }
    double recon[kSeedLMMaxC];
    seedlm_reconstruct(U, C, P, q, e, recon);  // what the decoder computes
    double error = 0.0;
    for (int j = 0; j < C; ++j) {
      const double diff = static_cast<double>(w[j]) - recon[j];
      error += diff * diff;
    }
    if (!have || error < out->error) {
      have = true;
      out->error = error;
      out->exponent = e;
      for (int i = 0; i < P; ++i) out->q[i] = q[i];
      for (int i = P; i < kSeedLMMaxP; ++i) out->q[i] = 0;
    }
  }
}

}  // namespace seedforge
