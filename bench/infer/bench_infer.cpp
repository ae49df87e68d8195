// Inference speed of one model: the ternary engine on a .stage1.pt as stored
// against libtorch, single sequence, CPU.
//
//   BM_EngineDecode/threads/steps    the engine: greedy from BOS, one token a step, KV cache
//   BM_EnginePrefill/threads/tokens  the engine: one prompt of T tokens into a fresh cache
//   BM_TorchDecode/threads/steps     libtorch: the same on SEEDFORGE_INFER_DENSE when set
//   BM_TorchPrefill/threads/tokens   (a dense model: HF folder, .bin, .pt), else on the
//                                    .stage1.pt's decoded weights (stage1 eval --engine torch)
//
// Env: SEEDFORGE_INFER_MODEL (default out/stories260K.stage1.pt in the source
// tree), SEEDFORGE_INFER_DENSE (optional), SEEDFORGE_INFER_FP16_DENSE=1 (the
// engine keeps its decoded head in fp16: infer::Options::fp16_dense). Counters: tokens/s
// (items_per_second from wall time), threads, peak RSS of the process and RSS
// after loading (MiB), user and sys CPU seconds per iteration (all threads),
// weights in memory (MiB; the engine's own count, libtorch's parameters).
// Peak RSS is per process: bench/infer/run_bench.sh runs one benchmark a process.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>

#include "eval/peak_memory.h"
#include "infer/generate.h"
#include "infer/kernels.h"
#include "infer/session.h"
#include "io/model_loader.h"
#include "pipeline/stage1_model.h"
#include "runtime/threads.h"

using namespace seedforge;

namespace {

std::string model_path() {
  const char* env = std::getenv("SEEDFORGE_INFER_MODEL");
  return env != nullptr ? env : std::string(SEEDFORGE_SOURCE_DIR) + "/out/stories260K.stage1.pt";
}

double mib(int64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

struct Loaded {
  LoadedModel model;
  double rss_after_load_mib = 0.0;
  double weights_mib = 0.0;
};

Loaded& engine_model() {
  static Loaded m = [] {
    Loaded l;
    infer::Options options;
    const char* fp16 = std::getenv("SEEDFORGE_INFER_FP16_DENSE");
    options.fp16_dense = fp16 != nullptr && std::string(fp16) == "1";
    l.model.engine = infer::load_model(model_path(), options);
    l.rss_after_load_mib = mib(current_rss_bytes());
    l.weights_mib = mib(l.model.engine->weight_bytes());
    return l;
  }();
  return m;
}

Loaded& torch_model() {
  static Loaded m = [] {
    Loaded l;
    const char* dense = std::getenv("SEEDFORGE_INFER_DENSE");
    l.model = dense != nullptr ? load_model(dense, "", torch::kCPU)
                               : open_model(model_path(), "", torch::kCPU, ModelEngine::kTorch);
    l.model.model->eval();
    l.rss_after_load_mib = mib(current_rss_bytes());
    int64_t bytes = 0;
    for (const auto& p : l.model.model->parameters()) bytes += p.numel() * static_cast<int64_t>(p.element_size());
    l.weights_mib = mib(bytes);
    return l;
  }();
  return m;
}

struct CpuTimes {
  double user = 0, sys = 0;
  static CpuTimes now() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return {double(u.ru_utime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec),
            double(u.ru_stime.tv_sec) + 1e-6 * double(u.ru_stime.tv_usec)};
  }
};

void add_counters(benchmark::State& state, const Loaded& l, int threads, const CpuTimes& start, const char* kernels) {
  const CpuTimes end = CpuTimes::now();
  const double n = double(state.iterations());
  state.counters["threads"] = threads;
  state.counters["user_s"] = (end.user - start.user) / n;
  state.counters["sys_s"] = (end.sys - start.sys) / n;
  state.counters["peak_rss_MiB"] = mib(peak_rss_bytes());
  state.counters["rss_after_load_MiB"] = l.rss_after_load_mib;
  state.counters["weights_MiB"] = l.weights_mib;
  state.SetLabel(kernels);
}

// Args: threads, steps.
void BM_EngineDecode(benchmark::State& state) {
  Loaded& l = engine_model();
  infer::SessionOptions options;
  options.threads = static_cast<int>(state.range(0));
  infer::Session s(l.model.engine, options);
  const int64_t steps = std::min<int64_t>(state.range(1), l.model.engine->config.max_seq_len);
  const int64_t vocab = l.model.engine->config.vocab_size;
  const CpuTimes start = CpuTimes::now();
  for (auto _ : state) {
    s.reset();
    int32_t token = 1;
    for (int64_t i = 0; i < steps; ++i) token = infer::argmax(s.forward(&token, 1), vocab);
    benchmark::DoNotOptimize(token);
  }
  state.SetItemsProcessed(state.iterations() * steps);
  add_counters(state, l, s.threads(), start, s.kernels().name);
}

// Args: threads, tokens.
void BM_EnginePrefill(benchmark::State& state) {
  Loaded& l = engine_model();
  infer::SessionOptions options;
  options.threads = static_cast<int>(state.range(0));
  infer::Session s(l.model.engine, options);
  const int64_t t = std::min<int64_t>(state.range(1), l.model.engine->config.max_seq_len);
  std::vector<int32_t> ids(static_cast<size_t>(t));
  for (int64_t i = 0; i < t; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>((i * 2654435761LL) % l.model.engine->config.vocab_size);
  const CpuTimes start = CpuTimes::now();
  for (auto _ : state) {
    s.reset();
    benchmark::DoNotOptimize(s.forward(ids.data(), t)[0]);
  }
  state.SetItemsProcessed(state.iterations() * t);
  add_counters(state, l, s.threads(), start, s.kernels().name);
}

void BM_TorchDecode(benchmark::State& state) {
  configure_threads(static_cast<int>(state.range(0)));
  Loaded& l = torch_model();
  torch::NoGradGuard no_grad;
  auto& model = l.model.model;
  const int64_t steps = std::min<int64_t>(state.range(1), model->config().max_seq_len);
  const CpuTimes start = CpuTimes::now();
  for (auto _ : state) {
    KVCache cache = model->make_cache(1, steps);
    int64_t token = 1;
    for (int64_t i = 0; i < steps; ++i) {
      auto logits = model->forward_cached(torch::full({1, 1}, token, torch::kInt64), cache);
      token = logits[0][0].argmax().item<int64_t>();
    }
    benchmark::DoNotOptimize(token);
  }
  state.SetItemsProcessed(state.iterations() * steps);
  add_counters(state, l, configured_threads(), start, "torch");
}

void BM_TorchPrefill(benchmark::State& state) {
  configure_threads(static_cast<int>(state.range(0)));
  Loaded& l = torch_model();
  torch::NoGradGuard no_grad;
  auto& model = l.model.model;
  const int64_t t = std::min<int64_t>(state.range(1), model->config().max_seq_len);
  const auto ids = torch::arange(t, torch::kInt64).mul(static_cast<int64_t>(2654435761LL)).remainder(model->config().vocab_size).view({1, t});
  const CpuTimes start = CpuTimes::now();
  for (auto _ : state) {
    KVCache cache = model->make_cache(1, t);
    const torch::Tensor logits = model->forward_cached(ids, cache);
    benchmark::DoNotOptimize(logits[0][t - 1][0].item<float>());
  }
  state.SetItemsProcessed(state.iterations() * t);
  add_counters(state, l, configured_threads(), start, "torch");
}

}  // namespace

// 256 steps for stories260K; 32 for the TinyLlama-shaped model (run_bench.sh picks by filter).
BENCHMARK(BM_EngineDecode)->ArgNames({"threads", "steps"})->Args({1, 256})->Args({2, 256})->Args({1, 32})->Args({2, 32})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EnginePrefill)->ArgNames({"threads", "tokens"})->Args({1, 256})->Args({2, 256})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TorchDecode)->ArgNames({"threads", "steps"})->Args({1, 256})->Args({2, 256})->Args({1, 32})->Args({2, 32})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TorchPrefill)->ArgNames({"threads", "tokens"})->Args({1, 256})->Args({2, 256})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
