// One BitNet b1.58 fine-tuning step on stories260K, as the trainer runs it:
// B windows of T tokens from train.txt, lambda 0.5 (both quantizers active and
// blended), distillation from the fp32 teacher (kd_weight 0.5, T 1) or not,
// cross-entropy, backward, gradient clipping at 1.0, AdamW (lr 1e-3, betas
// 0.9/0.95). bench/train/finetune_step_pytorch.py runs the same step in Python.
//
//   bench_finetune_step [--benchmark_filter=...]    env SEEDFORGE_THREADS (default 2)
// Args: batch, seq_len, kd (0/1), activation_bits, per_row (0/1).
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "common/data_paths.h"
#include "eval/documents.h"
#include "io/model_loader.h"
#include "runtime/threads.h"
#include "train/bit_linear.h"
#include "train/train_data.h"
#include "train/trainer.h"

using namespace seedforge;

namespace {

int bench_threads() {
  const char* env = std::getenv("SEEDFORGE_THREADS");
  return env != nullptr ? std::atoi(env) : 2;
}

void BM_FinetuneStep(benchmark::State& state) {
  if (std::getenv("SEEDFORGE_DATA") == nullptr) setenv("SEEDFORGE_DATA", SEEDFORGE_DEFAULT_DATA, 0);
  const int threads = configure_threads(bench_threads());
  TrainOptions o;
  o.batch_size = state.range(0);
  o.seq_len = state.range(1);
  o.kd_weight = state.range(2) != 0 ? 0.5 : 0.0;
  o.activation_bits = static_cast<int>(state.range(3));
  o.per_row_scale = state.range(4) != 0;
  o.grad_accum = 1;
  o.lr = 1e-3;
  o.grad_clip = 1.0;
  LoadedModel loaded = load_model(data_path("models/stories260K/stories260K.bin"), data_path("models/stories260K/tok512.bin"));
  const TrainData data = load_train_data(data_path("text/tinystories/train.txt"), "", *loaded.tokenizer, o, 512);
  Transformer teacher = make_teacher(loaded.model);
  Transformer student = loaded.model;
  convert_to_bitnet(student, bitnet_options(o));
  set_bitnet_lambda(student, 0.5);
  student->train();
  auto optimizer = make_optimizer(student, o);
  const torch::Tensor stream = torch::tensor(data.stream, torch::kInt64);
  const torch::Tensor windows = stream.as_strided({data.windows, o.seq_len + 1}, {o.seq_len, 1});
  WindowSampler sampler(data.windows, o.seed);
  int64_t position = 0;
  for (auto _ : state) {
    state.PauseTiming();
    torch::Tensor index = torch::empty({o.batch_size}, torch::kInt64);
    for (int64_t r = 0; r < o.batch_size; ++r) index[r] = sampler.window_at(position++);
    const std::vector<torch::Tensor> batch = {windows.index_select(0, index)};
    state.ResumeTiming();
    // The teacher runs every step (as in a first epoch; later epochs of a CPU run read its cached output).
    std::vector<torch::Tensor> teacher_logp;
    if (o.kd_weight > 0) teacher_logp.push_back(teacher_log_probs(teacher, batch[0].narrow(1, 0, o.seq_len), 1.0, false));
    const StepStats s = optimizer_step(student, batch, teacher_logp, *optimizer, o.lr, o, false, false, "benchmark");
    benchmark::DoNotOptimize(s.loss);
  }
  state.counters["tokens/s"] =
      benchmark::Counter(double(state.iterations() * o.batch_size * o.seq_len), benchmark::Counter::kIsRate);
  state.counters["threads"] = threads;
  state.SetLabel(blas_description());
}

}  // namespace

// batch, seq_len, kd, activation_bits, per_row
BENCHMARK(BM_FinetuneStep)
    ->ArgNames({"B", "T", "kd", "abits", "row"})
    ->Args({8, 256, 1, 8, 0})
    ->Args({8, 256, 0, 8, 0})
    ->Args({8, 256, 1, 0, 1})
    ->Args({16, 128, 1, 8, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(5.0);

BENCHMARK_MAIN();
