// Exactness of the pruned SeedLM seed search against a brute-force reference
// that fits every seed (tests/codec/seedlm_reference.h), for K = 8, 12, 16.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "codec/seedlm_basis.h"
#include "codec/seedlm_search.h"
#include "codec/seedlm_seed_table.h"
#include "seedlm_reference.h"

using namespace seedforge;

namespace {

// Blocks in scaled units (the encoder maps the largest weight of a tensor to
// 60 for Q=E=4): Gaussian blocks whose standard deviation spans 1e-3 .. 100 so
// that every exponent and the mantissa clamps are exercised, plus an all-zero
// block and a block with one nonzero value.
std::vector<float> make_blocks(int64_t n, int C, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> log_std(std::log(1e-3), std::log(100.0));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> blocks(static_cast<size_t>(n * C));
  for (int64_t b = 0; b < n; ++b) {
    const float sd = static_cast<float>(std::exp(log_std(rng)));
    for (int j = 0; j < C; ++j) blocks[static_cast<size_t>(b * C + j)] = sd * normal(rng);
  }
  if (n > 3) {
    for (int j = 0; j < C; ++j) blocks[static_cast<size_t>(1 * C + j)] = 0.0f;
    for (int j = 0; j < C; ++j) blocks[static_cast<size_t>(2 * C + j)] = j == 3 ? 5.0f : 0.0f;
  }
  return blocks;
}

// Brute force over `seeds` (seed-outer so each basis is factored once), two threads.
std::vector<seedlm_ref::Fit> reference_search(const std::vector<float>& blocks, const SeedLMParams& p,
                                              const std::vector<uint32_t>& seeds) {
  const int64_t n = static_cast<int64_t>(blocks.size()) / p.C;
  const std::vector<int> taps = p.resolved_taps();
  constexpr int kThreads = 2;
  std::vector<std::vector<seedlm_ref::Fit>> best(kThreads, std::vector<seedlm_ref::Fit>(static_cast<size_t>(n)));
  std::vector<int64_t> deficient(kThreads, 0);
  const seedlm_ref::Quantizer quantizer(p.Q, p.E);
  auto work = [&](int t) {
    for (size_t i = static_cast<size_t>(t); i < seeds.size(); i += kThreads) {
      const std::vector<float> U = seedlm_ref::basis(p.K, taps, p.C, p.P, seeds[i]);
      const seedlm_ref::NormalEquations ne(U, p.C, p.P);
      if (ne.rank < p.P) ++deficient[static_cast<size_t>(t)];
      for (int64_t b = 0; b < n; ++b) {
        seedlm_ref::Fit f = seedlm_ref::fit(blocks.data() + b * p.C, U, ne, p.C, p.P, quantizer);
        f.seed = seeds[i];
        if (seedlm_ref::better(f, best[static_cast<size_t>(t)][static_cast<size_t>(b)]))
          best[static_cast<size_t>(t)][static_cast<size_t>(b)] = f;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(work, t);
  for (auto& th : threads) th.join();
  if (deficient[0] + deficient[1] > 0) {
    std::printf("K=%d C=%d P=%d: %lld rank-deficient bases among %zu seeds\n", p.K, p.C, p.P,
                static_cast<long long>(deficient[0] + deficient[1]), seeds.size());
  }
  std::vector<seedlm_ref::Fit> out = best[0];
  for (int64_t b = 0; b < n; ++b)
    if (seedlm_ref::better(best[1][static_cast<size_t>(b)], out[static_cast<size_t>(b)]))
      out[static_cast<size_t>(b)] = best[1][static_cast<size_t>(b)];
  return out;
}

void expect_same(const std::vector<SeedLMBlockCode>& got, const std::vector<seedlm_ref::Fit>& want, int P) {
  ASSERT_EQ(got.size(), want.size());
  int mismatches = 0;
  for (size_t b = 0; b < got.size(); ++b) {
    const bool same_seed = got[b].seed == want[b].seed;
    bool same_code = same_seed && got[b].exponent == want[b].exponent;
    for (int i = 0; i < P && same_code; ++i) same_code = got[b].q[i] == want[b].q[i];
    if (!same_code && ++mismatches <= 5) {
      ADD_FAILURE() << "block " << b << ": search seed " << got[b].seed << " e " << got[b].exponent << " error "
                    << got[b].error << ", reference seed " << want[b].seed << " e " << want[b].exponent
                    << " error " << want[b].error;
    }
    EXPECT_NEAR(got[b].error, want[b].error, 1e-9 * (1.0 + want[b].error)) << "block " << b;
  }
  EXPECT_EQ(mismatches, 0);
}

void check_exhaustive(int K, int C, int P, int64_t n_blocks, uint64_t seed) {
  SeedLMParams p;
  p.K = K;
  p.C = C;
  p.P = P;
  p.threads = 2;
  const std::vector<float> blocks = make_blocks(n_blocks, C, seed);
  std::vector<SeedLMBlockCode> codes(static_cast<size_t>(n_blocks));
  seedlm_search(blocks.data(), n_blocks, p, codes.data());
  expect_same(codes, reference_search(blocks, p, p.searched_seeds()), P);
}

// Overwrites the first `count` blocks with blocks that seeds of the table
// represent exactly up to fp32 rounding (w = U(s) q, q in [-8, 7]): their error
// is ~0, where a bound without rounding margin would fail half the time.
void make_representable(const SeedLMSeedTable& table, const SeedLMParams& p, int count, std::vector<float>* blocks) {
  std::mt19937 rng(77);
  std::uniform_int_distribution<int> q(-8, 7);
  for (int b = 0; b < count; ++b) {
    const int64_t index = (b * 997 + 13) % table.n_seeds;
    const float* U = table.basis(index);
    for (int j = 0; j < p.C; ++j) {
      double v = 0.0;
      for (int k = 0; k < p.P; ++k) v += static_cast<double>(U[j * p.P + k]) * q(rng);
      (*blocks)[static_cast<size_t>(b * p.C + j)] = static_cast<float>(v);
    }
  }
}

}  // namespace

TEST(SeedLMSearch, ExactK8) {
  check_exhaustive(8, 8, 4, 400, 1);
  check_exhaustive(8, 8, 3, 400, 2);
}

TEST(SeedLMSearch, ExactK12) {
  check_exhaustive(12, 8, 4, 200, 3);
  check_exhaustive(12, 12, 4, 100, 4);
}

TEST(SeedLMSearch, ExactK16On200Blocks) { check_exhaustive(16, 8, 4, 200, 5); }

// Shapes without a specialized kernel go through the runtime loops; tiny K
// have many rank-deficient bases (minimum-norm coefficients) among few seeds.
TEST(SeedLMSearch, ExactOtherShapes) {
  check_exhaustive(10, 6, 2, 150, 6);
  check_exhaustive(9, 16, 5, 60, 7);
  check_exhaustive(3, 2, 2, 60, 8);
  check_exhaustive(4, 4, 3, 60, 9);
  check_exhaustive(5, 3, 3, 60, 10);
}

TEST(SeedLMSearch, SeedCandidatesAreTheDocumentedSet) {
  SeedLMParams p;
  p.seed_candidates = 1000;
  const std::vector<uint32_t> seeds = p.searched_seeds();
  ASSERT_EQ(seeds.size(), 1000u);
  for (int64_t i = 0; i < 1000; ++i) EXPECT_EQ(seeds[static_cast<size_t>(i)], 1 + i * 65535 / 1000);
  const std::vector<float> blocks = make_blocks(100, p.C, 8);
  std::vector<SeedLMBlockCode> codes(100);
  seedlm_search(blocks.data(), 100, p, codes.data());
  expect_same(codes, reference_search(blocks, p, seeds), p.P);
}

// Same codes for every instruction set and thread count.
TEST(SeedLMSearch, IndependentOfKernelAndThreads) {
  SeedLMParams p;
  p.K = 12;
  const int64_t n = 100;
  const std::vector<float> blocks = make_blocks(n, p.C, 9);
  const auto table = seedlm_seed_table(p);
  std::vector<SeedLMBlockCode> base(static_cast<size_t>(n));
  seedlm_search_range(*table, p, seedlm_scan_kernel(p.C, p.P, Isa::kGeneric), blocks.data(), n, base.data(),
                      nullptr, /*use_slide=*/false);
  auto same = [&](const std::vector<SeedLMBlockCode>& other, const char* what) {
    for (int64_t b = 0; b < n; ++b) {
      const auto& x = base[static_cast<size_t>(b)];
      const auto& y = other[static_cast<size_t>(b)];
      EXPECT_EQ(x.seed, y.seed) << what << " block " << b;
      EXPECT_EQ(x.exponent, y.exponent) << what << " block " << b;
      EXPECT_EQ(x.error, y.error) << what << " block " << b;
      for (int i = 0; i < p.P; ++i) EXPECT_EQ(x.q[i], y.q[i]) << what << " block " << b;
    }
  };
  for (Isa isa : {Isa::kGeneric, Isa::kAvx2, Isa::kAvx512}) {
    if (!seedlm_isa_supported(isa)) continue;
    for (bool slide : {false, true}) {
      std::vector<SeedLMBlockCode> codes(static_cast<size_t>(n));
      seedlm_search_range(*table, p, seedlm_scan_kernel(p.C, p.P, isa), blocks.data(), n, codes.data(), nullptr, slide);
      same(codes, (std::string(isa_name(isa)) + (slide ? " slide" : " direct")).c_str());
    }
  }
  for (int threads : {1, 3}) {
    p.threads = threads;
    std::vector<SeedLMBlockCode> codes(static_cast<size_t>(n));
    seedlm_search(blocks.data(), n, p, codes.data());
    same(codes, threads == 1 ? "1 thread" : "3 threads");
  }
  std::vector<SeedLMBlockCode> naive(static_cast<size_t>(n));
  for (int64_t b = 0; b < n; ++b) naive[static_cast<size_t>(b)] = seedlm_search_block_naive(*table, p, blocks.data() + b * p.C);
  same(naive, "naive");
}

// The pruning bound of every kernel, ||w||^2 (1 - margin_rel) - fp32 norm, never
// exceeds a seed's quantized error, for every seed (the property exactness rests on).
TEST(SeedLMSearch, PruningBoundIsBelowEveryError) {
  for (int P : {3, 4}) {
    SeedLMParams p;
    p.K = 12;
    p.P = P;
    const auto table = seedlm_seed_table(p);
    EXPECT_GT(table->margin_rel, 0.0);
    EXPECT_LT(table->margin_rel, 1e-4);
    for (Isa isa : {Isa::kGeneric, Isa::kAvx2, Isa::kAvx512}) {
      if (!seedlm_isa_supported(isa)) continue;
      const SeedLMScanKernel kernel = seedlm_scan_kernel(p.C, p.P, isa);
      const int lanes = kernel.lanes;
      std::vector<float> blocks = make_blocks(lanes, p.C, 10 + P);
      make_representable(*table, p, lanes / 2, &blocks);
      std::vector<float> wt(static_cast<size_t>(p.C * lanes));
      for (int b = 0; b < lanes; ++b)
        for (int j = 0; j < p.C; ++j) wt[static_cast<size_t>(j * lanes + b)] = blocks[static_cast<size_t>(b * p.C + j)];
      std::vector<float> norms(static_cast<size_t>(table->n_seeds * lanes));
      SeedLMScanArgs args;
      args.qt = table->Qt.data();
      args.C = p.C;
      args.P = p.P;
      args.begin = 0;
      args.end = table->n_seeds;
      args.wt = wt.data();
      args.norms = norms.data();
      kernel.fn(&args);
      double tightest = 1e300;
      for (int b = 0; b < lanes; ++b) {
        const float* w = blocks.data() + b * p.C;
        double wn2 = 0.0;
        for (int j = 0; j < p.C; ++j) wn2 += static_cast<double>(w[j]) * w[j];
        for (int64_t s = 0; s < table->n_seeds; ++s) {
          SeedLMBlockCode code;
          seedlm_fit_seed(w, table->basis(s), table->gram_pinv(s), p.C, p.P, p.Q, p.E, &code);
          const double bound = wn2 * (1.0 - table->margin_rel) - norms[static_cast<size_t>(s * lanes + b)];
          ASSERT_LE(bound, code.error) << isa_name(isa) << " P=" << P << " block " << b << " seed index " << s;
          if (wn2 > 0) tightest = std::min(tightest, (code.error - bound) / wn2);
        }
      }
      // The bound is useful: some seed's error is within 1% of ||w||^2 of it.
      EXPECT_LT(tightest, 0.01) << isa_name(isa);
    }
  }
}

// The sliding table visits every seed once, in LFSR order, with the bases of
// the main table, and sends only ill-conditioned bases to the direct kernel.
TEST(SeedLMSearch, SlideTableCoversEverySeed) {
  SeedLMParams p;  // K=16, C=8, P=4
  const auto table = seedlm_seed_table(p);
  ASSERT_TRUE(table->slide);
  const SeedLMSlideTable& slide = *table->slide;
  ASSERT_EQ(slide.n_positions, table->n_seeds);
  std::vector<bool> seen(static_cast<size_t>(table->n_seeds), false);
  for (int64_t pos = 0; pos < slide.n_positions; ++pos) {
    const uint32_t index = slide.index[static_cast<size_t>(pos)];
    ASSERT_LT(index, table->n_seeds);
    ASSERT_FALSE(seen[index]) << "seed index " << index << " twice";
    seen[index] = true;
    const float* U = table->basis(index);
    for (int i = 0; i < p.C * p.P; ++i) ASSERT_EQ(slide.u[static_cast<size_t>(pos + 1 + i)], U[i]) << pos;
  }
  size_t n_irregular = 0;
  for (float mu : slide.mu) n_irregular += std::isinf(mu) ? 1 : 0;
  EXPECT_EQ(n_irregular, slide.irregular.size());
  // The 47 rank-deficient bases plus the ill-conditioned ones (about 2%).
  EXPECT_GE(slide.irregular.size(), 47u);
  EXPECT_LT(slide.irregular.size(), static_cast<size_t>(table->n_seeds / 20));
  std::printf("K=16 C=8 P=4: %zu of %lld seeds through the direct kernel\n", slide.irregular.size(),
              static_cast<long long>(table->n_seeds));
}

// The sliding kernel's bound, ||w||^2 (1 - 8u) - (norm + mu ||w||^2), never
// exceeds a seed's error, for every position and every instruction set.
TEST(SeedLMSearch, SlidePruningBoundIsBelowEveryError) {
  for (int P : {3, 4}) {
    SeedLMParams p;
    p.K = 12;
    p.P = P;
    const auto table = seedlm_seed_table(p);
    const SeedLMSlideTable& slide = *table->slide;
    for (Isa isa : {Isa::kGeneric, Isa::kAvx2, Isa::kAvx512}) {
      if (!seedlm_isa_supported(isa)) continue;
      const SeedLMScanKernel kernel = seedlm_scan_kernel(p.C, p.P, isa);
      const int lanes = kernel.lanes;
      std::vector<float> blocks = make_blocks(lanes, p.C, 20 + P);
      make_representable(*table, p, lanes / 2, &blocks);
      std::vector<float> wt(static_cast<size_t>(p.C * lanes)), wn2_up(static_cast<size_t>(lanes));
      std::vector<double> wn2(static_cast<size_t>(lanes), 0.0);
      for (int b = 0; b < lanes; ++b) {
        for (int j = 0; j < p.C; ++j) {
          const float v = blocks[static_cast<size_t>(b * p.C + j)];
          wt[static_cast<size_t>(j * lanes + b)] = v;
          wn2[static_cast<size_t>(b)] += static_cast<double>(v) * v;
        }
        float f = static_cast<float>(wn2[static_cast<size_t>(b)]);
        if (f < wn2[static_cast<size_t>(b)]) f = std::nextafter(f, 1e30f);
        wn2_up[static_cast<size_t>(b)] = f;
      }
      std::vector<float> norms(static_cast<size_t>(slide.n_positions * lanes));
      SeedLMSlideArgs args;
      args.u = slide.u.data();
      args.linv = slide.linv.data();
      args.mu = slide.mu.data();
      args.C = p.C;
      args.P = p.P;
      args.begin = 0;
      args.end = slide.n_positions;
      args.wt = wt.data();
      args.wn2 = wn2_up.data();
      args.norms = norms.data();
      kernel.slide(&args);
      const double u = std::ldexp(1.0, -24);
      double tightest = 1e300;
      for (int b = 0; b < lanes; ++b) {
        const double w2 = wn2[static_cast<size_t>(b)];
        for (int64_t pos = 0; pos < slide.n_positions; ++pos) {
          if (std::isinf(slide.mu[static_cast<size_t>(pos)])) continue;  // irregular: direct kernel
          const int64_t index = slide.index[static_cast<size_t>(pos)];
          SeedLMBlockCode code;
          seedlm_fit_seed(blocks.data() + b * p.C, table->basis(index), table->gram_pinv(index), p.C, p.P, p.Q, p.E,
                          &code);
          const double bound = w2 * (1.0 - 8.0 * u) - norms[static_cast<size_t>(pos * lanes + b)];
          ASSERT_LE(bound, code.error) << isa_name(isa) << " P=" << P << " block " << b << " position " << pos;
          if (w2 > 0) tightest = std::min(tightest, (code.error - bound) / w2);
        }
      }
      EXPECT_LT(tightest, 0.01) << isa_name(isa);
    }
  }
}
