// Inference speed of libtorch on the model the engine benchmark runs
// (bench_infer.cpp), single sequence, CPU:
//
//   BM_TorchDecode/threads/steps     greedy from BOS, one token a step, KV cache
//   BM_TorchPrefill/threads/tokens   one prompt of T tokens into a fresh cache
//
// On SEEDFORGE_INFER_DENSE when set (a dense model: HF folder, .bin, .pt),
// else on SEEDFORGE_INFER_MODEL's decoded weights (stage1 eval --engine torch:
// the same 8-bit activations). Counters as bench_infer's; weights_MiB counts
// libtorch's parameters.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "bench_util.h"
#include "io/checkpoint.h"
#include "io/model_loader.h"
#include "pipeline/stage1_model.h"
#include "runtime/threads.h"

using namespace seedforge;

namespace {

std::string model_path() {
  const char* env = std::getenv("SEEDFORGE_INFER_MODEL");
  return env != nullptr ? env : std::string(SEEDFORGE_SOURCE_DIR) + "/out/stories260K.stage1.pt";
}

struct Loaded {
  LoadedModel model;
  double rss_after_load_mib = 0.0, weights_mib = 0.0;
};

Loaded& torch_model() {
  static Loaded m = [] {
    Loaded l;
    const char* dense = std::getenv("SEEDFORGE_INFER_DENSE");
    if (dense != nullptr) {
      // The weights only (no tokenizer needed); the checkpoint's copy is freed after building.
      Checkpoint ck = load_checkpoint(dense);
      l.model.model = build_model(ck.config, ck.tensors, dense);
    } else {
      l.model = open_model(model_path(), "", torch::kCPU, ModelEngine::kTorch);
    }
    l.model.model->eval();
    malloc_trim(0);  // return the loader's freed copies to the system (runtime/threads.cpp keeps freed blocks)
    l.rss_after_load_mib = bench::status_mib("VmRSS");
    int64_t bytes = 0;
    for (const auto& p : l.model.model->parameters()) bytes += p.numel() * static_cast<int64_t>(p.element_size());
    l.weights_mib = double(bytes) / (1024.0 * 1024.0);
    return l;
  }();
  return m;
}

// Args: threads, steps.
void BM_TorchDecode(benchmark::State& state) {
  configure_threads(static_cast<int>(state.range(0)));
  Loaded& l = torch_model();
  torch::NoGradGuard no_grad;
  auto& model = l.model.model;
  const int64_t steps = std::min<int64_t>(state.range(1), model->config().max_seq_len);
  const auto start = bench::CpuTimes::now();
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
  bench::add_counters(state, configured_threads(), start, l.rss_after_load_mib, l.weights_mib, "torch");
}

// Args: threads, tokens.
void BM_TorchPrefill(benchmark::State& state) {
  configure_threads(static_cast<int>(state.range(0)));
  Loaded& l = torch_model();
  torch::NoGradGuard no_grad;
  auto& model = l.model.model;
  const int64_t t = std::min<int64_t>(state.range(1), model->config().max_seq_len);
  const auto ids = torch::arange(t, torch::kInt64).mul(static_cast<int64_t>(2654435761LL)).remainder(model->config().vocab_size).view({1, t});
  const auto start = bench::CpuTimes::now();
  for (auto _ : state) {
    KVCache cache = model->make_cache(1, t);
    const torch::Tensor logits = model->forward_cached(ids, cache);
    benchmark::DoNotOptimize(logits[0][t - 1][0].item<float>());
  }
  state.SetItemsProcessed(state.iterations() * t);
  bench::add_counters(state, configured_threads(), start, l.rss_after_load_mib, l.weights_mib, "torch");
}

}  // namespace

BENCHMARK(BM_TorchDecode)->ArgNames({"threads", "steps"})->Args({1, 256})->Args({2, 256})->Args({1, 32})->Args({2, 32})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TorchPrefill)->ArgNames({"threads", "tokens"})->Args({1, 256})->Args({2, 256})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
