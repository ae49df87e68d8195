// One BitNet b1.58 fine-tuning step on stories260K, as the trainer runs it:
// B windows of T tokens from train.txt, lambda 0.5 (both quantizers active and
// blended), cross-entropy plus distillation from the fp32 teacher (kd_weight
// 0.5, temperature 1) or not, backward, gradient clipping at 1.0, AdamW (lr
// 1e-3, betas 0.9/0.95). bench/train/finetune_step_pytorch.py runs the same
// step in Python PyTorch; bench/train/compare_finetune_step.sh runs both.
//
//   bench_finetune_step [--benchmark_filter=...]    env SEEDFORGE_THREADS (default 2)
// Args: B, T, kd (0 none, 1 teacher run in the step, 2 teacher log-probs
// precomputed as the trainer caches them after the first epoch on CPU),
// abits (activation bits), row (per-row scales), kern (1 = CPU attention
// kernel, 0 = GEMM attention), group (with row: one fp16 scale per row and
// this many columns, as configs/stories260K.json; 0 = fp32 per row), topk
// (bitnet.teacher_top_k: 0 = full distribution, k = the teacher's top k and
// the rest's mass). Counters: tokens/s, user and sys CPU seconds per step
// (getrusage, all threads).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdlib>

#include "common/data_paths.h"
#include "io/model_loader.h"
#include "runtime/threads.h"
#include "train/bit_linear.h"
#include "train/train_data.h"
#include "train/train_forward.h"  // attention_kernel_available
#include "train/trainer.h"

using namespace seedforge;

namespace {

int bench_threads() {
  const char* env = std::getenv("SEEDFORGE_THREADS");
  return env != nullptr ? std::atoi(env) : 2;
}

double seconds(const timeval& t) { return double(t.tv_sec) + 1e-6 * double(t.tv_usec); }

void BM_FinetuneStep(benchmark::State& state) {
  if (std::getenv("SEEDFORGE_DATA") == nullptr) setenv("SEEDFORGE_DATA", SEEDFORGE_DEFAULT_DATA, 0);
  const int threads = configure_threads(bench_threads());
  TrainOptions o;
  o.batch_size = state.range(0);
  o.seq_len = state.range(1);
  const int64_t kd = state.range(2);
  o.kd_weight = kd != 0 ? 0.5 : 0.0;
  o.activation_bits = static_cast<int>(state.range(3));
  o.per_row_scale = state.range(4) != 0;
  const bool kernel = state.range(5) != 0;
  o.scale_group = o.per_row_scale ? state.range(6) : 0;
  o.fp16_scales = o.scale_group > 0;
  o.teacher_top_k = state.range(7);
  o.grad_accum = 1;
  o.lr = 1e-3;
  o.grad_clip = 1.0;
  LoadedModel loaded = load_model(data_path("models/stories260K/stories260K.bin"), data_path("models/stories260K/tok512.bin"));
  const TrainData data = load_train_data({data_path("text/tinystories/train.txt")}, "", *loaded.tokenizer, o, 512);
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
  auto next_batch = [&] {
    torch::Tensor index = torch::empty({o.batch_size}, torch::kInt64);
    for (int64_t r = 0; r < o.batch_size; ++r) index[r] = sampler.window_at(position++);
    return windows.index_select(0, index);
  };
  o.attention_kernel = kernel;
  auto teacher_of = [&](const torch::Tensor& batch) {
    return teacher_targets(teacher, batch.narrow(1, 0, o.seq_len), o, false);
  };
  auto step = [&](const torch::Tensor& batch, const TeacherTargets& targets) {
    const std::vector<TeacherTargets> per_micro_batch =
        targets.defined() ? std::vector<TeacherTargets>{targets} : std::vector<TeacherTargets>{};
    return optimizer_step(student, {batch}, per_micro_batch, *optimizer, o.lr, o, false, false, "benchmark").loss;
  };
  // Warm-up (allocator, OpenMP pool).
  for (int i = 0; i < 2; ++i) {
    const torch::Tensor b = next_batch();
    step(b, kd != 0 ? teacher_of(b) : TeacherTargets());
  }
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  for (auto _ : state) {
    state.PauseTiming();
    const torch::Tensor batch = next_batch();
    TeacherTargets cached;
    if (kd == 2) cached = teacher_of(batch);  // as read back from the trainer's cache
    state.ResumeTiming();
    const TeacherTargets targets = kd == 1 ? teacher_of(batch) : cached;
    benchmark::DoNotOptimize(step(batch, targets));
  }
  getrusage(RUSAGE_SELF, &after);
  const double n = double(state.iterations());
  state.counters["tokens/s"] = benchmark::Counter(n * double(o.batch_size * o.seq_len), benchmark::Counter::kIsRate);
  state.counters["user_s/step"] = (seconds(after.ru_utime) - seconds(before.ru_utime)) / n;
  state.counters["sys_s/step"] = (seconds(after.ru_stime) - seconds(before.ru_stime)) / n;
  state.counters["threads"] = threads;
  state.SetLabel(kernel && attention_kernel_available() ? "attention kernel avx2" : "attention gemm");
}

}  // namespace

// B, T, kd, abits, row, kern, group, topk
BENCHMARK(BM_FinetuneStep)
    ->ArgNames({"B", "T", "kd", "abits", "row", "kern", "group", "topk"})
    ->Args({8, 256, 1, 8, 1, 1, 0, 0})
    ->Args({8, 256, 1, 8, 1, 0, 0, 0})
    ->Args({8, 256, 1, 8, 1, 1, 32, 0})
    ->Args({8, 256, 1, 8, 1, 0, 32, 0})
    ->Args({8, 256, 2, 8, 1, 1, 32, 0})
    ->Args({8, 256, 1, 8, 1, 1, 32, 32})
    ->Args({8, 256, 2, 8, 1, 1, 32, 32})
    ->Args({8, 256, 0, 8, 1, 1, 0, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->MinTime(5.0);

BENCHMARK_MAIN();
