#include "codec/seedlm_seed_table.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "codec/lfsr.h"
#include "codec/seedlm_basis.h"
#include "common/error.h"

namespace seedforge {
namespace {

constexpr int64_t kMaxTableBytes = int64_t{4} << 30;

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

// Fills entries [begin, end) and returns their largest orthonormality error.
double fill_range(SeedLMSeedTable& table, int K, uint32_t mask, int64_t begin, int64_t end) {
  const int C = table.C, P = table.P;
  double qt_double[kSeedLMMaxP * kSeedLMMaxC];
  double worst = 0.0;
  for (int64_t s = begin; s < end; ++s) {
    float* U = table.U.data() + s * C * P;
    seedlm_basis(K, mask, C, P, table.seeds[static_cast<size_t>(s)], U);
    seedlm_gram_pinv(U, C, P, table.M.data() + s * P * P);
    seedlm_orthonormal_basis(U, C, P, qt_double);
    float* qt = table.Qt.data() + s * P * C;
    for (int i = 0; i < P * C; ++i) qt[i] = static_cast<float>(qt_double[i]);
    for (int a = 0; a < P; ++a)
      for (int b = 0; b < P; ++b) {
        double dot = 0.0;
        for (int i = 0; i < C; ++i) dot += static_cast<double>(qt[a * C + i]) * qt[b * C + i];
        worst = std::max(worst, std::fabs(dot - (a == b ? 1.0 : 0.0)));
      }
  }
  return worst;
}

constexpr double kMaxSlideMargin = 1e-3;

// Rounding-error margin of the sliding kernel for one basis (seedlm_scan.h), as a
// share of ||w||^2, u = 2^-24, gamma_n = n u / (1 - n u):
//   y = U^T w:          |dy| <= gamma_C |U|^T |w|      -> ||dy|| <= gamma_C ||U||_F ||w||
//   z = L^{-1} y:       fp32 L^{-1} (u) and P-term sums (gamma_P)
//   => ||dz|| <= beta ||w||, beta = ||L^{-1}||_F ||U||_F (gamma_C + u + gamma_P)(1 + gamma_C)
//   ||z||^2 <= ||w||^2 (a projection), the P-term sum of squares adds gamma_P (1 + beta)^2,
// plus 1e-9 for the double-precision factorization, taken twice over, plus 8u
// for the final multiply-add and the rounding of ||w||^2 (seedlm_search.cpp).
double slide_margin(double linv_frob, double u_frob, int C, int P) {
  const double u = std::ldexp(1.0, -24);
  auto gamma = [u](int n) { return n * u / (1.0 - n * u); };
  const double beta = linv_frob * u_frob * (gamma(C) + u + gamma(P)) * (1.0 + gamma(C));
  const double exact = 2.0 * beta + beta * beta + gamma(P) * (1.0 + beta) * (1.0 + beta) + 1e-9;
  return 2.0 * exact + 8.0 * u;
}

// Positions [begin, end): L^{-1} and the margin, or -inf for an irregular basis.
void fill_slide_range(SeedLMSlideTable& slide, int C, int P, int64_t begin, int64_t end) {
  const int T = P * (P + 1) / 2;
  double G[kSeedLMMaxP * kSeedLMMaxP], L[kSeedLMMaxP * kSeedLMMaxP], Li[kSeedLMMaxP * kSeedLMMaxP];
  for (int64_t p = begin; p < end; ++p) {
    const float* U = slide.u.data() + p + 1;  // U[j][k] = U[j * P + k]
    double u_frob = 0.0, max_diag = 0.0;
    for (int a = 0; a < P; ++a)
      for (int b = 0; b < P; ++b) {
        double sum = 0.0;
        for (int j = 0; j < C; ++j) sum += static_cast<double>(U[j * P + a]) * U[j * P + b];
        G[a * P + b] = sum;
      }
    for (int a = 0; a < P; ++a) {
      u_frob += G[a * P + a];
      max_diag = std::max(max_diag, G[a * P + a]);
    }
    u_frob = std::sqrt(u_frob);
    // Cholesky G = L L^T (double); a pivot below 1e-12 of the largest diagonal
    // means the basis is (numerically) rank-deficient.
    bool ok = max_diag > 0.0;
    for (int j = 0; j < P && ok; ++j) {
      double d = G[j * P + j];
      for (int k = 0; k < j; ++k) d -= L[j * P + k] * L[j * P + k];
      if (!(d > 1e-12 * max_diag)) {
        ok = false;
        break;
      }
      L[j * P + j] = std::sqrt(d);
      for (int i = j + 1; i < P; ++i) {
        double v = G[i * P + j];
        for (int k = 0; k < j; ++k) v -= L[i * P + k] * L[j * P + k];
        L[i * P + j] = v / L[j * P + j];
      }
    }
    double mu = -std::numeric_limits<double>::infinity();
    if (ok) {
      // Li = L^{-1} (lower triangular), column by column.
      double li_frob = 0.0;
      for (int c = 0; c < P; ++c)
        for (int i = 0; i < P; ++i) {
          double v = i == c ? 1.0 : 0.0;
          for (int k = c; k < i; ++k) v -= L[i * P + k] * Li[k * P + c];
          Li[i * P + c] = i < c ? 0.0 : v / L[i * P + i];
          li_frob += Li[i * P + c] * Li[i * P + c];
        }
      mu = slide_margin(std::sqrt(li_frob), u_frob, C, P);
      if (mu > kMaxSlideMargin) ok = false;
    }
    float* out = slide.linv.data() + p * T;
    for (int k = 0; k < P; ++k)
      for (int l = 0; l <= k; ++l) out[k * (k + 1) / 2 + l] = ok ? static_cast<float>(Li[k * P + l]) : 0.0f;
    // Rounded up, so the fp32 margin is never below the computed one.
    float mu_f = static_cast<float>(mu);
    if (ok && static_cast<double>(mu_f) < mu) mu_f = std::nextafter(mu_f, std::numeric_limits<float>::infinity());
    slide.mu[static_cast<size_t>(p)] = ok ? mu_f : -std::numeric_limits<float>::infinity();
  }
}

void build_slide(SeedLMSeedTable& table, int K, uint32_t mask, int n_threads) {
  const int C = table.C, P = table.P;
  auto slide = std::make_unique<SeedLMSlideTable>();
  const int64_t n = table.n_seeds;  // 2^K - 1: all seeds, one cycle
  slide->n_positions = n;
  slide->u.resize(static_cast<size_t>(n + int64_t{C} * P + 1));
  slide->index.resize(static_cast<size_t>(n));
  slide->linv.resize(static_cast<size_t>(n) * (P * (P + 1) / 2));
  slide->mu.resize(static_cast<size_t>(n));
  const float half = static_cast<float>(uint32_t{1} << (K - 1));
  uint32_t state = 1;
  for (size_t m = 0; m < slide->u.size(); ++m) {
    if (static_cast<int64_t>(m) < n) slide->index[m] = state - 1;
    slide->u[m] = (static_cast<float>(state) - half) / (half - 1.0f);  // as seedlm_basis
    state = lfsr_step(state, K, mask);
  }
  std::vector<std::thread> workers;
  for (int t = 0; t < n_threads; ++t) {
    const int64_t begin = n * t / n_threads, end = n * (t + 1) / n_threads;
    workers.emplace_back([&, begin, end] { fill_slide_range(*slide, C, P, begin, end); });
  }
  for (auto& w : workers) w.join();
  for (int64_t p = 0; p < n; ++p)
    if (std::isinf(slide->mu[static_cast<size_t>(p)])) slide->irregular.push_back(slide->index[static_cast<size_t>(p)]);
  std::sort(slide->irregular.begin(), slide->irregular.end());
  slide->irregular_qt.reserve(slide->irregular.size() * P * C);
  for (uint32_t index : slide->irregular) {
    const float* qt = table.qt(index);
    slide->irregular_qt.insert(slide->irregular_qt.end(), qt, qt + P * C);
  }
  table.slide = std::move(slide);
}

}  // namespace

int64_t seedlm_seed_table_bytes(const SeedLMParams& params) {
  // U, Qt, M, the seed; exhaustive tables add u, index, L^{-1} and mu.
  int64_t per_seed = int64_t{params.C} * params.P * (2 * sizeof(float)) +
                     int64_t{params.P} * params.P * sizeof(double) + sizeof(uint32_t);
  if (params.seed_candidates == 0) per_seed += 3 * sizeof(float) + params.P * (params.P + 1) / 2 * sizeof(float);
  return params.searched_seed_count() * per_seed;
}

std::shared_ptr<const SeedLMSeedTable> seedlm_seed_table(const SeedLMParams& params) {
  using Key = std::tuple<int, uint32_t, int, int, int64_t>;
  static std::mutex mutex;
  static std::map<Key, std::shared_ptr<const SeedLMSeedTable>> cache;

  const uint32_t mask = params.tap_mask();
  const Key key{params.K, mask, params.C, params.P, params.seed_candidates};
  // Held while building: two tensors encoded at once with the same parameters
  // must not build the table twice.
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;

  const int64_t bytes = seedlm_seed_table_bytes(params);
  if (bytes > kMaxTableBytes) {
    throw usage_error("SeedLM: searching ", params.searched_seed_count(), " seeds with K=", params.K,
                      ", C=", params.C, ", P=", params.P, " needs ", bytes >> 20,
                      " MiB of seed tables (limit ", kMaxTableBytes >> 20,
                      " MiB); set seed_candidates to search fewer seeds");
  }
  auto table = std::make_shared<SeedLMSeedTable>();
  table->C = params.C;
  table->P = params.P;
  table->seeds = params.searched_seeds();
  table->n_seeds = static_cast<int64_t>(table->seeds.size());
  const size_t n = table->seeds.size();
  table->U.resize(n * params.C * params.P);
  table->M.resize(n * params.P * params.P);
  table->Qt.resize(n * params.P * params.C);

  const int n_threads = static_cast<int>(std::min<int64_t>(resolve_threads(params.threads),
                                                           std::max<int64_t>(1, table->n_seeds / 1024)));
  std::vector<double> worst(static_cast<size_t>(n_threads), 0.0);
  std::vector<std::thread> workers;
  for (int t = 0; t < n_threads; ++t) {
    const int64_t begin = table->n_seeds * t / n_threads, end = table->n_seeds * (t + 1) / n_threads;
    workers.emplace_back([&, t, begin, end] { worst[static_cast<size_t>(t)] = fill_range(*table, params.K, mask, begin, end); });
  }
  for (auto& w : workers) w.join();
  table->max_orthonormality_error = *std::max_element(worst.begin(), worst.end());

  // Rounding-error bound of the fp32 pruning bound (u = 2^-24), per ||w||^2:
  //   rows of Qt rounded to fp32:      2 sqrt(P) u
  //   C-term dot products (with FMA):   2 sqrt(P) C u
  //   sum of P squares:                 P u
  //   Qt not exactly orthonormal:       2 P max|Qt Qt^T - I|
  // taken four times over, plus 1e-9 for the double-precision error terms.
  const double u = std::ldexp(1.0, -24), sp = std::sqrt(static_cast<double>(params.P));
  table->margin_rel = 4.0 * ((2.0 * sp + 2.0 * sp * params.C + params.P) * u +
                             2.0 * params.P * table->max_orthonormality_error) +
                      1e-9;
  if (params.seed_candidates == 0) build_slide(*table, params.K, mask, n_threads);
  cache.emplace(key, table);
  return table;
}

}  // namespace seedforge
