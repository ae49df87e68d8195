// BitNet b1.58 quantization-aware fine-tuning: the training loop.
//
// Per optimizer step s of S (S = total_steps()):
//   lambda = lambda_at(s, S, warmup_fraction, schedule) on every BitLinear
//   lr     = lr_at(s, S, lr, lr_warmup_steps, lr_schedule)
//   grad_accum micro-batches of batch_size windows (train_data.h), each
//     loss = CE(student, next tokens) + kd_weight * T^2 * KL(softmax(t/T) || softmax(s/T))
//     (the KL term, mean over tokens, only with a teacher), backward of loss / grad_accum;
//     on CPU the teacher's targets of each window (its log-probabilities, or only
//     its top k: teacher_targets.h) are kept after their first computation
//     (bitnet.teacher_cache_mb), later epochs reuse them
//   the global gradient L2 norm clipped to grad_clip, then AdamW (decoupled
//   weight decay on matrices only, eps 1e-8)
//   every eval_every steps: top-1 and perplexity on the validation documents at lambda = 1
//   every checkpoint_every steps (and at the end): a checkpoint (train_checkpoint.h)
// A non-finite loss stops the run with a runtime_error naming the step.
//
// Data parallel (a DistGroup of W = options.world_size ranks): every rank holds
// the same student; step s takes the global sample positions of a one-process
// run with batch_size * W windows per micro-batch, and rank k's micro-batch m
// is the rows [(m * W + k) * batch_size, +batch_size) of the step's
// grad_accum * W * batch_size positions, so the windows of a step are those of
// one process with grad_accum * W micro-batches of batch_size (or grad_accum
// of W * batch_size). The gradients are averaged over the ranks (one flat
// bucket, process_group.h) before clipping, so every rank takes the same
// AdamW step; the reported loss is the mean over the ranks. Rank 0 alone
// writes checkpoints; a stop request on any rank stops all of them.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "dist/gradient_buckets.h"
#include "dist/process_group.h"
#include "model/transformer.h"
#include "train/memory_estimate.h"
#include "train/progress.h"
#include "train/teacher_targets.h"
#include "train/train_data.h"
#include "train/train_options.h"

namespace seedforge {

struct FinetuneHooks {
  std::function<void(const std::string&)> log;       // informational lines (memory estimate, resume, ...)
  std::function<void(const StepReport&)> on_step;    // after every optimizer step (and its checkpoint)
  std::function<void(const ValidReport&)> on_eval;   // after every periodic validation
  // Before every optimizer step (0-based `step` of `total_steps`), the first
  // one after a resume included: the place to change which parameters train.
  // A parameter frozen here must also lose its gradient (grad().reset()),
  // else AdamW keeps moving it on its running moments.
  std::function<void(int64_t step, int64_t total_steps)> before_step;
  // Polled after every optimizer step but the last: true stops the run there
  // (an interrupt). A checkpoint of that step is written first when
  // checkpoint_dir is set, whatever checkpoint_every says, so --resume
  // continues from it.
  std::function<bool()> stop_requested;
};

struct FinetuneResult {
  int64_t start_step = 0;   // > 0 when resumed
  int64_t total_steps = 0;
  std::vector<double> losses;  // every step's loss, index = step, including those before a resume
  std::vector<ValidReport> evals;
  MemoryEstimate memory;
  double train_seconds = 0.0;  // optimizer steps of this run, without validation and checkpoints
  int64_t train_tokens = 0;    // tokens (inputs) processed by this run, all ranks together
  double tokens_per_second = 0.0;
  int64_t stopped_at = 0;       // > 0: stop_requested() ended the run after this many steps
  AllReduceStats all_reduce;    // data parallel: this run's gradient all-reduces
  std::string checkpoint_path;  // where that step's checkpoint went ("" = none written)
};

// A frozen fp32 copy of a dense model, the distillation teacher.
Transformer make_teacher(const Transformer& dense_model);
// The dense model itself frozen as the teacher (no copy: a caller that does
// not train or change it again saves a whole fp32 model of memory).
Transformer freeze_as_teacher(Transformer dense_model);
// Stores the teacher's matrices (embeddings, head, projections) in bf16, its
// norms staying fp32: under bf16 every product casts its weight to bf16
// first (the linear layers, the head, the embedding's output), so the
// teacher's targets do not change, bit for bit, and its matrices take half
// the memory. The trainer does it to the device's copy on CUDA with bf16.
void store_matrices_in_bf16(Transformer& teacher);

// Fine-tunes `student` (already convert_to_bitnet()-ed with bitnet_options(options))
// in place. `teacher` (a dense model of the same shape) is required when
// kd_weight > 0 and ignored otherwise. Everything is checked (options, memory,
// device, resume checkpoint) before the first step. On return the student is
// at lambda = 1 on options.device. `group` (nullptr = one process) must have
// options.world_size ranks.
FinetuneResult finetune_bitnet(Transformer& student, Transformer* teacher, const TrainData& data,
                               const TrainOptions& options, const FinetuneHooks& hooks = {}, DistGroup* group = nullptr);

// The loss of one micro-batch, as the trainer computes it (exposed for tests and
// benchmarks): windows [B, T+1] int64 -> {loss, ce, kd} scalars. `teacher` holds
// teacher_targets() of the window inputs, or nothing for no distillation (kd = 0).
struct MicroBatchLoss {
  torch::Tensor loss, ce, kd;
};
MicroBatchLoss micro_batch_loss(Transformer& student, const TeacherTargets& teacher, const torch::Tensor& windows,
                                const TrainOptions& options, bool bf16, bool activation_checkpointing);
// The same, running the teacher (nullptr = no distillation).
MicroBatchLoss micro_batch_loss(Transformer& student, Transformer* teacher, const torch::Tensor& windows,
                                const TrainOptions& options, bool bf16, bool activation_checkpointing);

// AdamW over the student's trainable parameters: decoupled weight decay on
// matrices, none on vectors (norm weights, biases), eps 1e-8.
std::unique_ptr<torch::optim::AdamW> make_optimizer(Transformer& student, const TrainOptions& options);
// The same over the trainable ones of `parameters` (one block's, say).
std::unique_ptr<torch::optim::AdamW> make_optimizer(const std::vector<torch::Tensor>& parameters,
                                                    const TrainOptions& options);

// Sets every parameter group's learning rate (an optimizer from make_optimizer).
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

// Copies checkpointed latent parameters into the student, by name and shape
// (input_error naming `where` on a mismatch).
void restore_parameters(Transformer& student, const StateDict& params, const std::string& where);

// Global L2 norm of the parameters' gradients; scales them down to max_norm
// when above (max_norm 0 = measure only). Returns the norm before clipping.
double clip_gradients(const std::vector<torch::Tensor>& params, double max_norm);

// One optimizer step, the trainer's inner loop: zero the gradients, forward and
// backward every micro-batch (loss / micro-batches), clip, AdamW step with `lr`.
// teacher: one per micro-batch (teacher_targets()), or empty for no
// distillation. Lambda must already be set on the student. Throws runtime_error
// on a non-finite loss, before backward; `where` ("step 12 of 100") goes into that message.
// With a `group`, the gradients and the statistics are averaged over its ranks
// (the loss check stays per rank: the rank that diverged names it): by
// `overlap`'s buckets during the last micro-batch's backward when given, else
// in one all-reduce after it.
struct StepStats {
  double loss = 0.0, ce = 0.0, kd = 0.0;  // means over the micro-batches
  double grad_norm = 0.0;                 // before clipping
};
StepStats optimizer_step(Transformer& student, const std::vector<torch::Tensor>& micro_batches,
                         const std::vector<TeacherTargets>& teacher, torch::optim::Optimizer& optimizer, double lr,
                         const TrainOptions& options, bool bf16, bool activation_checkpointing, const std::string& where,
                         DistGroup* group = nullptr, OverlappedGradientAverage* overlap = nullptr);

}  // namespace seedforge
