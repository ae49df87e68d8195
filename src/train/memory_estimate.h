// Memory a fine-tuning run needs, estimated from the model shape and the
// options before any tensor is allocated. Torch-free.
//
// Terms (bytes):
//   weights      fp32 latent parameters                      4 * P
//   gradients    fp32, one per parameter                     4 * P
//   optimizer    AdamW's two fp32 moments                    8 * P
//   teacher      the frozen original (distillation)          4 * P, else 0;
//                on CUDA under bf16 its matrices are stored in bf16 (trainer.h):
//                2 bytes a matrix weight, 4 a norm weight
//   activations  what backward keeps for one micro-batch of B x T tokens:
//                per layer and token about 20 C + 4 Ckv + 5 F + 4 H T elements
//                (norm inputs, quantized BitLinear inputs, q/k/v with RoPE,
//                attention scores and probabilities, SwiGLU intermediates),
//                plus about 3 V fp32 logits-sized tensors per token (6 V with
//                distillation), for the tokens of one loss chunk
//                (loss_chunk_tokens); chunked, the teacher's targets of the
//                whole micro-batch besides (12 k + 4 bytes a token with top-k,
//                4 V without). With activation checkpointing a layer keeps
//                only its input (C per token) and one layer is recomputed at a
//                time. Elements are 2 bytes under bf16, 4 otherwise (softmax
//                and logits stay fp32).
//   ternary weights  BitLinear's effective weights W + lambda (W_q - W)
//                that the linear layers keep for backward: 4 bytes (2 under
//                bf16) per projection weight
//   runtime      CUDA context and workspace, 0.5 GiB on CUDA; on CPU libtorch,
//                OpenBLAS and the process idle, 160 MiB (measured: `stage1
//                config --print-defaults` peaks at 163 MiB)
// P counts the parameters of ModelConfig (embeddings, an untied head, projections,
// biases, norms). The activation term is an estimate (the allocator's caching
// and fragmentation come on top); the parameter terms are exact.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/model_config.h"
#include "model/parameter_shapes.h"  // parameter_count
#include "train/train_options.h"

namespace seedforge {

struct MemoryEstimate {
  int64_t parameters = 0;
  std::vector<std::pair<std::string, double>> terms;  // (name, bytes), in the order above
  double total_bytes() const;
  // The largest term (name, bytes).
  std::pair<std::string, double> largest() const;
  // "weights 1.04 MB, gradients 1.04 MB, ..., total 12.3 MB"
  std::string describe() const;
};

// What backward keeps of one layer for one micro-batch (the activations
// term's per-layer part, see above).
double layer_activation_bytes(const ModelConfig& config, const TrainOptions& options, bool bf16);
// Tokens a chunk of the head's loss (chunked_head_loss.h) for `setting`
// (hardware.loss_chunk_tokens): > 0 as given, 0 = all n_tokens at once, -1 =
// auto: as many as keep one chunk's fp32 logits within 128 MiB (all of them
// when they fit). Between 1 and n_tokens.
int64_t loss_chunk_tokens(int64_t setting, int64_t n_tokens, int64_t vocab);
// The runtime term (see above).
double runtime_bytes(bool on_cuda);
// The projection weights (q, k, v, o, gate, up, down) of all layers.
int64_t projection_parameter_count(const ModelConfig& config);
// The weights in matrices (embeddings, head, projections), not norms or biases.
int64_t matrix_parameter_count(const ModelConfig& config);
// How many ternary scales the projections have: 1 a tensor, O per row, or
// O * ceil(I / scale_group) per row and run of input columns
// (TernaryScaleLayout). With learned scales each has a trained fp32 gain,
// which estimate_training_memory counts as "learned scale gains".
int64_t ternary_scale_count(const ModelConfig& config, bool per_row_scale, int64_t scale_group);
// The distillation teacher's bytes: fp32, or with its matrices in bf16.
double teacher_bytes(const ModelConfig& config, bool bf16_matrices);

MemoryEstimate estimate_training_memory(const ModelConfig& config, const TrainOptions& options, bool with_teacher,
                                        bool on_cuda, bool bf16, bool activation_checkpointing);

// Throws usage_error when the total exceeds max_gb GiB, naming the largest term
// and what to change.
void check_memory_fits(const MemoryEstimate& estimate, double max_gb, const std::string& where);

// "1.23 GB", "456.0 MB", "789 B" (binary units: 1 GB = 2^30 bytes here).
std::string format_bytes(double bytes);

}  // namespace seedforge
