// The output head's loss a chunk of tokens at a time, so that a large
// vocabulary's logits never exist for the whole micro-batch at once.
//
// For a micro-batch of N tokens and a vocabulary of V the head's fp32 logits,
// their log-softmax (twice with distillation) and their gradients are about
// 3 (6 with distillation) N V floats: for N = 4 x 1024 and V = 128,256, 12.6 GB,
// more than the rest of a 1B model's training on one GPU. Chunked, those
// tensors exist for `chunk` tokens at a time: the forward computes each
// chunk's loss without autograd and keeps only the hidden states; backward
// recomputes one chunk at a time (as activation checkpointing does a layer)
// and hands back the gradients of the hidden states and of the head's weight
// summed over chunks (one gradient for the weight, so a tied embedding and a
// data-parallel bucket see it arrive once).
//
// The value equals the unchunked loss up to the order of float sums (a
// chunk's rows are the same products; the means add chunk sums).
#pragma once

#include <torch/torch.h>

#include "train/memory_estimate.h"  // loss_chunk_tokens
#include "train/teacher_targets.h"

namespace seedforge {

struct HeadLoss {
  torch::Tensor ce;  // [] mean cross-entropy over the N tokens
  torch::Tensor kd;  // [] mean KL(teacher || student at temperature), not times T^2; 0 without a teacher
};

// hidden [N, C] (the final norm's output, in the residual stream's dtype),
// head_weight [V, C] (cast to hidden's dtype for the product, as the model's
// head does), targets [N] int64, teacher: targets of the same N tokens or
// undefined. Differentiable in hidden and head_weight.
HeadLoss chunked_head_loss(const torch::Tensor& hidden, const torch::Tensor& head_weight, const torch::Tensor& targets,
                           const TeacherTargets& teacher, double temperature, int64_t chunk_tokens);

// The teacher's targets [0, n) restricted to rows [start, start + count).
TeacherTargets slice_targets(const TeacherTargets& targets, int64_t start, int64_t count);

}  // namespace seedforge
