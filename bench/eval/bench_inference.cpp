// Inference speed of stories260K (fp32, CPU unless a CUDA build and
// SEEDFORGE_DEVICE=cuda): prefill (one forward pass of B prompts x T tokens
// filling the KV cache), decode (one token a step with the KV cache, greedy),
// HellaSwag scoring of the first N sample tasks (4 endings each). Counters:
// tokens/s (items_per_second, from wall time: UseRealTime, since the CPU
// column counts the main thread only), threads, peak RSS of the process in MiB.
//
//   bench_inference [--benchmark_filter=...]   env SEEDFORGE_THREADS (default 2)
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "common/data_paths.h"
#include "eval/hellaswag.h"
#include "eval/multiple_choice.h"
#include "eval/peak_memory.h"
#include "io/model_loader.h"
#include "runtime/threads.h"

using namespace seedforge;

namespace {

int bench_threads() {
  const char* env = std::getenv("SEEDFORGE_THREADS");
  return env != nullptr ? std::atoi(env) : 2;
}

torch::Device bench_device() {
  const char* env = std::getenv("SEEDFORGE_DEVICE");
  return env != nullptr ? torch::Device(env) : torch::Device(torch::kCPU);
}

LoadedModel& stories() {
  static LoadedModel loaded = [] {
    if (std::getenv("SEEDFORGE_DATA") == nullptr) setenv("SEEDFORGE_DATA", SEEDFORGE_DEFAULT_DATA, 0);
    configure_threads(bench_threads());
    LoadedModel m = load_model(data_path("models/stories260K/stories260K.bin"),
                               data_path("models/stories260K/tok512.bin"), bench_device());
    m.model->eval();
    return m;
  }();
  return loaded;
}

void add_counters(benchmark::State& state, const torch::Device& device) {
  state.counters["threads"] = configured_threads();
  state.counters["peak_rss_MiB"] = double(peak_rss_bytes()) / (1024.0 * 1024.0);
  if (device.is_cuda()) state.counters["peak_cuda_MiB"] = double(peak_cuda_bytes(device.index() < 0 ? 0 : device.index())) / (1024.0 * 1024.0);
}

// Args: batch B, prompt length T.
void BM_Prefill(benchmark::State& state) {
  auto& m = stories();
  torch::NoGradGuard no_grad;
  const int64_t b = state.range(0), t = state.range(1);
  const auto device = m.model->model->embed_tokens->weight.device();
  const auto tokens = torch::arange(b * t, torch::kInt64).remainder(m.checkpoint.config.vocab_size).view({b, t}).to(device);
  for (auto _ : state) {
    KVCache cache = m.model->make_cache(b, t);
    auto logits = m.model->forward_cached(tokens, cache);  // [B, T, V]
    benchmark::DoNotOptimize(logits.index({0, -1, 0}).item<float>());
  }
  state.SetItemsProcessed(state.iterations() * b * t);
  add_counters(state, device);
}
BENCHMARK(BM_Prefill)->ArgNames({"batch", "tokens"})->Args({1, 256})->Args({1, 512})->Args({8, 256})->Args({32, 256})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// Args: steps. Greedy from BOS, one position a step, KV cache.
void BM_Decode(benchmark::State& state) {
  auto& m = stories();
  torch::NoGradGuard no_grad;
  const int64_t steps = state.range(0);
  const auto device = m.model->model->embed_tokens->weight.device();
  for (auto _ : state) {
    KVCache cache = m.model->make_cache(1, steps);
    int64_t token = 1;
    for (int64_t i = 0; i < steps; ++i) {
      auto logits = m.model->forward_cached(torch::full({1, 1}, token, torch::kInt64).to(device), cache);
      token = logits[0][0].argmax().item<int64_t>();
    }
    benchmark::DoNotOptimize(token);
  }
  state.SetItemsProcessed(state.iterations() * steps);
  add_counters(state, device);
}
BENCHMARK(BM_Decode)->ArgName("steps")->Arg(256)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();

// Args: tasks from the HellaSwag sample, batch tokens, scorer (1 = fast:
// shared contexts in the KV cache, 0 = reference: whole sequences). items = tasks.
void BM_HellaswagScore(benchmark::State& state) {
  auto& m = stories();
  auto tasks = read_hellaswag(data_path("hellaswag/hellaswag_val_sample.jsonl"));
  tasks.resize(static_cast<size_t>(state.range(0)));
  MultipleChoiceOptions options;
  options.max_seq_len = m.checkpoint.config.max_seq_len;
  options.batch_tokens = state.range(1);
  options.device = m.model->model->embed_tokens->weight.device();
  double acc = 0;
  for (auto _ : state) {
    acc = state.range(2) != 0 ? score_multiple_choice(m.model, *m.tokenizer, tasks, options).acc
                              : score_multiple_choice(transformer_logits(m.model), *m.tokenizer, tasks, options).acc;
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["acc"] = acc;
  add_counters(state, options.device);
}
BENCHMARK(BM_HellaswagScore)->ArgNames({"tasks", "batch_tokens", "fast"})->Args({500, 4096, 1})->Args({500, 16384, 1})
    ->Args({500, 4096, 0})->Args({500, 16384, 0})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
