// SeedLM encoder benchmarks.
//
//   encode/C/P        seedlm_encode of N(0, 0.02^2) weights, exhaustive K=16,
//                     all cores: blocks per second (the target: >= 30,000
//                     at C=8 on two cores).
//   scan_kernel/C/P   the direct projection kernel alone, one thread: one tile of
//                     blocks against all 65535 seeds' P x C bases (no candidates),
//                     as GFLOP/s of its (65535 P x C) x (C x lanes) product.
//   slide_kernel/C/P  the sliding kernel the exhaustive search uses, the same norms
//                     for every seed with fewer operations (seedlm_scan.h); its
//                     rate is given in the direct product's flops ("equivalent").
//   sgemm_same/C/P    OpenBLAS cblas_sgemm of that same product, one thread.
//   sgemm_square/n/t  cblas_sgemm n x n x n on t threads (0 = all cores): the
//                     machine's sgemm rate.
// After the runs a summary prints the encode rates and the projection's share of
// both sgemm rates, measured per CPU-second (thread CPU time for one thread,
// process CPU time for several), which a machine shared with other jobs does
// not distort; the encoder's wall-clock rate is printed beside it.
// Run: build/bench/codec/bench_seedlm [--benchmark_format=json]
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <time.h>

#include "codec/seedlm_codec.h"
#include "codec/seedlm_scan.h"
#include "codec/seedlm_search.h"
#include "codec/seedlm_seed_table.h"

// Present in OpenBLAS; weak so that the benchmark also links against another BLAS.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace {

using namespace seedforge;
using Clock = std::chrono::steady_clock;

// CPU seconds of all threads of the process, or of the calling thread. On a
// shared machine, work per CPU-second is the rate the code reaches while it
// runs; times the core count it estimates an idle machine's wall-clock rate.
double cpu_seconds(clockid_t clock) {
  timespec t;
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}
double process_cpu_seconds() { return cpu_seconds(CLOCK_PROCESS_CPUTIME_ID); }
double thread_cpu_seconds() { return cpu_seconds(CLOCK_THREAD_CPUTIME_ID); }

std::map<std::string, double> g_rates;  // name -> best rate seen (blocks/s or GFLOP/s)

void record(const std::string& name, double rate) {
  double& r = g_rates[name];
  if (rate > r) r = rate;
}

void set_blas_threads(int n) {
  if (openblas_set_num_threads) openblas_set_num_threads(n);
}

std::vector<float> gaussian(int64_t n, float sd, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, sd);
  std::vector<float> w(static_cast<size_t>(n));
  for (auto& x : w) x = normal(rng);
  return w;
}

SeedLMParams params_for(int C, int P) {
  SeedLMParams p;
  p.C = C;
  p.P = P;
  return p;
}

std::string shape_name(const char* what, int C, int P) {
  return std::string(what) + "/C=" + std::to_string(C) + ",P=" + std::to_string(P);
}

void BM_Encode(benchmark::State& state) {
  const int C = static_cast<int>(state.range(0)), P = static_cast<int>(state.range(1));
  const SeedLMParams p = params_for(C, P);
  const int64_t n_blocks = 16384;
  const auto w = gaussian(n_blocks * C, 0.02f, 1);
  seedlm_seed_table(p);  // build the cached tables outside the timing
  SeedLMSearchStats stats;
  SeedLMEncodeOptions options;
  options.stats = &stats;
  double rel_error = 0.0, cpu_seconds = 0.0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    const double c0 = process_cpu_seconds();
    const SeedLMTensor t = seedlm_encode(w.data(), static_cast<int64_t>(w.size()), p, options);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = process_cpu_seconds() - c0;
    cpu_seconds += cpu;
    record(shape_name("encode", C, P), static_cast<double>(n_blocks) / seconds);
    record(shape_name("encode_cpu", C, P), static_cast<double>(n_blocks) / cpu);
    state.PauseTiming();
    std::vector<float> out(w.size());
    seedlm_decode(t, p, out.data());
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < w.size(); ++i) {
      num += (static_cast<double>(w[i]) - out[i]) * (static_cast<double>(w[i]) - out[i]);
      den += static_cast<double>(w[i]) * w[i];
    }
    rel_error = std::sqrt(num / den);
    state.ResumeTiming();
  }
  state.counters["blocks_per_s"] = benchmark::Counter(static_cast<double>(n_blocks * state.iterations()),
                                                      benchmark::Counter::kIsRate);
  state.counters["blocks_per_cpu_s"] = static_cast<double>(n_blocks * state.iterations()) / cpu_seconds;
  state.counters["fits_per_block"] = static_cast<double>(stats.fits) / static_cast<double>(stats.blocks);
  state.counters["rel_error"] = rel_error;
  state.counters["bits_per_weight"] = p.bits_per_weight();
}

// One tile against every seed with an infinite threshold: the projection only.
void BM_ScanKernel(benchmark::State& state) {
  const int C = static_cast<int>(state.range(0)), P = static_cast<int>(state.range(1));
  const SeedLMParams p = params_for(C, P);
  const auto table = seedlm_seed_table(p);
  const SeedLMScanKernel kernel = seedlm_scan_kernel(C, P);
  const int lanes = kernel.lanes;
  const auto wt = gaussian(static_cast<int64_t>(C) * lanes, 10.0f, 2);
  std::vector<float> thr(static_cast<size_t>(lanes), INFINITY);
  std::vector<uint32_t> idx(16), mask(16);
  const double flops = 2.0 * table->n_seeds * P * C * lanes;  // the GEMM part
  for (auto _ : state) {
    SeedLMScanArgs args;
    args.qt = table->Qt.data();
    args.C = C;
    args.P = P;
    args.begin = 0;
    args.end = table->n_seeds;
    args.wt = wt.data();
    args.thr = thr.data();
    args.cand_index = idx.data();
    args.cand_mask = mask.data();
    args.cand_cap = 16;
    const double c0 = thread_cpu_seconds();
    benchmark::DoNotOptimize(kernel.fn(&args));
    record(shape_name("scan_kernel", C, P), flops / (thread_cpu_seconds() - c0) * 1e-9);
  }
  state.counters["GFLOPS"] = benchmark::Counter(flops * static_cast<double>(state.iterations()) * 1e-9,
                                                benchmark::Counter::kIsRate);
  state.counters["lanes"] = lanes;
  state.counters["seed_blocks_per_s"] = benchmark::Counter(
      static_cast<double>(table->n_seeds) * lanes * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.SetLabel(isa_name(kernel.isa));
}

// The sliding kernel over all positions of the cycle (no candidates): the
// same norms with C + P(P+1)/2 + P + 1 instead of P*C + P multiply-adds per seed.
void BM_SlideKernel(benchmark::State& state) {
  const int C = static_cast<int>(state.range(0)), P = static_cast<int>(state.range(1));
  const SeedLMParams p = params_for(C, P);
  const auto table = seedlm_seed_table(p);
  const SeedLMSlideTable& slide = *table->slide;
  const SeedLMScanKernel kernel = seedlm_scan_kernel(C, P);
  const int lanes = kernel.lanes;
  const auto wt = gaussian(static_cast<int64_t>(C) * lanes, 10.0f, 2);
  std::vector<float> thr(static_cast<size_t>(lanes), INFINITY), wn2(static_cast<size_t>(lanes), 1.0f);
  std::vector<uint32_t> idx(16), mask(16);
  const double seeds = static_cast<double>(slide.n_positions);
  for (auto _ : state) {
    SeedLMSlideArgs args;
    args.u = slide.u.data();
    args.linv = slide.linv.data();
    args.mu = slide.mu.data();
    args.C = C;
    args.P = P;
    args.begin = 0;
    args.end = slide.n_positions;
    args.wt = wt.data();
    args.wn2 = wn2.data();
    args.thr = thr.data();
    args.cand_index = idx.data();
    args.cand_mask = mask.data();
    args.cand_cap = 16;
    const double c0 = thread_cpu_seconds();
    benchmark::DoNotOptimize(kernel.slide(&args));
    // Rate in the direct kernel's GEMM-equivalent flops, to compare with it.
    record(shape_name("slide_kernel", C, P), 2.0 * seeds * P * C * lanes / (thread_cpu_seconds() - c0) * 1e-9);
  }
  state.counters["seed_blocks_per_s"] = benchmark::Counter(seeds * lanes * static_cast<double>(state.iterations()),
                                                           benchmark::Counter::kIsRate);
  state.SetLabel(isa_name(kernel.isa));
}

// The same product with OpenBLAS: A = Qt rows (65535 P x C), B = W (C x lanes).
void BM_SgemmSameShape(benchmark::State& state) {
  const int C = static_cast<int>(state.range(0)), P = static_cast<int>(state.range(1));
  const SeedLMParams p = params_for(C, P);
  const auto table = seedlm_seed_table(p);
  const int lanes = seedlm_scan_kernel(C, P).lanes;
  const int M = static_cast<int>(table->n_seeds * P);
  const auto B = gaussian(static_cast<int64_t>(C) * lanes, 10.0f, 3);
  std::vector<float> out(static_cast<size_t>(M) * lanes);
  set_blas_threads(1);
  const double flops = 2.0 * M * C * lanes;
  for (auto _ : state) {
    const double c0 = thread_cpu_seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, lanes, C, 1.0f, table->Qt.data(), C, B.data(), lanes,
                0.0f, out.data(), lanes);
    benchmark::ClobberMemory();
    record(shape_name("sgemm_same", C, P), flops / (thread_cpu_seconds() - c0) * 1e-9);
  }
  state.counters["GFLOPS"] = benchmark::Counter(flops * static_cast<double>(state.iterations()) * 1e-9,
                                                benchmark::Counter::kIsRate);
}

void BM_SgemmSquare(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  int threads = static_cast<int>(state.range(1));  // 0: all cores
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const auto A = gaussian(static_cast<int64_t>(n) * n, 1.0f, 4), B = gaussian(static_cast<int64_t>(n) * n, 1.0f, 5);
  std::vector<float> out(static_cast<size_t>(n) * n);
  set_blas_threads(threads);
  const double flops = 2.0 * n * n * static_cast<double>(n);
  for (auto _ : state) {
    // One thread: its CPU time; several: the process's, i.e. the rate per core.
    const bool one = threads == 1;
    const double c0 = one ? thread_cpu_seconds() : process_cpu_seconds();
    const auto t0 = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, A.data(), n, B.data(), n, 0.0f, out.data(), n);
    benchmark::ClobberMemory();
    const double cpu = (one ? thread_cpu_seconds() : process_cpu_seconds()) - c0;
    record("sgemm_square/threads=" + std::to_string(threads), flops / cpu * 1e-9);
    record("sgemm_square_wall/threads=" + std::to_string(threads),
           flops / std::chrono::duration<double>(Clock::now() - t0).count() * 1e-9);
  }
  state.counters["GFLOPS"] = benchmark::Counter(flops * static_cast<double>(state.iterations()) * 1e-9,
                                                benchmark::Counter::kIsRate);
}

BENCHMARK(BM_Encode)->Args({8, 4})->Args({8, 3})->Args({12, 4})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_ScanKernel)->Args({8, 4})->Args({8, 3})->Args({12, 4})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_SlideKernel)->Args({8, 4})->Args({8, 3})->Args({12, 4})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_SgemmSameShape)->Args({8, 4})->Args({8, 3})->Args({12, 4})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_SgemmSquare)->Args({1024, 1})->Args({1024, 0})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

}  // namespace

int main(int argc, char** argv) {
  const unsigned cores = std::thread::hardware_concurrency();
  benchmark::AddCustomContext("cores", std::to_string(cores));
  benchmark::AddCustomContext("seedlm_isa", isa_name(seedlm_default_isa()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  // Summary from the best run of each benchmark. Rates per CPU-second: on this
  // shared machine wall-clock rates depend on what else runs.
  std::printf("\nSeedLM summary (%u cores, kernel %s; best run of each benchmark; rates per CPU-second of one core)\n",
              cores, isa_name(seedlm_default_isa()));
  auto get = [](const std::string& k) {
    auto it = g_rates.find(k);
    return it == g_rates.end() ? 0.0 : it->second;
  };
  const unsigned all = std::max(1u, cores);
  const double sq1 = get("sgemm_square/threads=1");
  std::printf("  sgemm 1024^3: %.1f GFLOP/s on one core; %.1f per core with %u threads (wall clock %.1f in all)\n", sq1,
              get("sgemm_square/threads=" + std::to_string(all)), all,
              get("sgemm_square_wall/threads=" + std::to_string(all)));
  for (auto [C, P] : {std::pair{8, 4}, std::pair{8, 3}, std::pair{12, 4}}) {
    const double enc = get(shape_name("encode", C, P));
    const double enc_cpu = get(shape_name("encode_cpu", C, P));
    const double scan = get(shape_name("scan_kernel", C, P));
    const double slide = get(shape_name("slide_kernel", C, P));
    const double same = get(shape_name("sgemm_same", C, P));
    std::printf("  C=%-2d P=%d  exhaustive encode: %.0f blocks per CPU-second (x %u cores = %.0f blocks/s);"
                " wall clock here %.0f blocks/s\n", C, P, enc_cpu, all, enc_cpu * all, enc);
    auto share = [&](const char* what, double rate) {
      if (rate <= 0) return;
      std::printf("      %-26s %6.1f GFLOP/s", what, rate);
      if (same > 0) std::printf(" = %5.1f%% of sgemm, same shape (%.1f)", 100.0 * rate / same, same);
      if (sq1 > 0) std::printf(", %5.1f%% of sgemm 1024^3 (%.1f)", 100.0 * rate / sq1, sq1);
      std::printf("\n");
    };
    share("direct projection", scan);
    share("sliding kernel, equivalent", slide);
  }
  return 0;
}
