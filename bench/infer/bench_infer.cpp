// Inference speed of the ternary engine on a .stage1.pt as stored, single
// sequence, CPU. Torch-free (links seedforge_infer only), so that its memory
// figures are the engine's; bench_infer_torch.cpp measures libtorch alike.
//
//   BM_EngineDecode/threads/steps    greedy from BOS, one token a step, KV cache
//   BM_EnginePrefill/threads/tokens  one prompt of T tokens into a fresh cache
//
// Env: SEEDFORGE_INFER_MODEL (default out/stories260K.stage1.pt in the source
// tree), SEEDFORGE_INFER_FP16_DENSE=1 (the decoded head in fp16:
// infer::Options::fp16_dense), SEEDFORGE_INFER_DENSE_LEVELS=1 (levels
// projections decoded to dense matrices: infer::Options::dense_levels, the
// path before the I4-32 kernel). Counters: tokens/s (items_per_second from wall
// time), threads, peak RSS of the process and RSS after loading (MiB), user
// and sys CPU seconds per iteration (all threads), weights in memory (MiB).
// Peak RSS is per process: bench/infer/run_bench.sh runs one benchmark a process.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_util.h"
#include "infer/generate.h"
#include "infer/session.h"

using namespace seedforge;

namespace {

std::string model_path() {
  const char* env = std::getenv("SEEDFORGE_INFER_MODEL");
  return env != nullptr ? env : std::string(SEEDFORGE_SOURCE_DIR) + "/out/stories260K.stage1.pt";
}

struct Loaded {
  std::shared_ptr<const infer::Model> model;
  double rss_after_load_mib = 0.0;
};

Loaded& engine_model() {
  static Loaded m = [] {
    Loaded l;
    infer::Options options;
    const char* fp16 = std::getenv("SEEDFORGE_INFER_FP16_DENSE");
    options.fp16_dense = fp16 != nullptr && std::string(fp16) == "1";
    const char* dense_levels = std::getenv("SEEDFORGE_INFER_DENSE_LEVELS");
    options.dense_levels = dense_levels != nullptr && std::string(dense_levels) == "1";
    l.model = infer::load_model(model_path(), options);
    l.rss_after_load_mib = bench::status_mib("VmRSS");
    return l;
  }();
  return m;
}

void counters(benchmark::State& state, const Loaded& l, const infer::Session& s, const bench::CpuTimes& start) {
  bench::add_counters(state, s.threads(), start, l.rss_after_load_mib, double(l.model->weight_bytes()) / (1024.0 * 1024.0),
                      s.kernels().name);
}

// Args: threads, steps.
void BM_EngineDecode(benchmark::State& state) {
  Loaded& l = engine_model();
  infer::SessionOptions options;
  options.threads = static_cast<int>(state.range(0));
  infer::Session s(l.model, options);
  const int64_t steps = std::min<int64_t>(state.range(1), l.model->config.max_seq_len);
  const int64_t vocab = l.model->config.vocab_size;
  const auto start = bench::CpuTimes::now();
  for (auto _ : state) {
    s.reset();
    int32_t token = 1;
    for (int64_t i = 0; i < steps; ++i) token = infer::argmax(s.forward(&token, 1), vocab);
    benchmark::DoNotOptimize(token);
  }
  state.SetItemsProcessed(state.iterations() * steps);
  counters(state, l, s, start);
}

// Args: threads, tokens.
void BM_EnginePrefill(benchmark::State& state) {
  Loaded& l = engine_model();
  infer::SessionOptions options;
  options.threads = static_cast<int>(state.range(0));
  infer::Session s(l.model, options);
  const int64_t t = std::min<int64_t>(state.range(1), l.model->config.max_seq_len);
  std::vector<int32_t> ids(static_cast<size_t>(t));
  for (int64_t i = 0; i < t; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>((i * 2654435761LL) % l.model->config.vocab_size);
  const auto start = bench::CpuTimes::now();
  for (auto _ : state) {
    s.reset();
    benchmark::DoNotOptimize(s.forward(ids.data(), t)[0]);
  }
  state.SetItemsProcessed(state.iterations() * t);
  counters(state, l, s, start);
}

}  // namespace

// 256 steps for stories260K; 32 for the TinyLlama-shaped model (run_bench.sh picks by filter).
BENCHMARK(BM_EngineDecode)->ArgNames({"threads", "steps"})->Args({1, 256})->Args({2, 256})->Args({1, 32})->Args({2, 32})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EnginePrefill)->ArgNames({"threads", "tokens"})->Args({1, 256})->Args({2, 256})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
