// The training forward pass: the model's own layers, with two switches that
// matter on a GPU (both off on CPU by default):
//   bf16: the residual stream runs in bfloat16 while the fp32 latent weights
//         stay the master copy (each layer casts its weight to the input's
//         dtype, norms and softmax compute in fp32), logits come back fp32.
//         This is what autocast would do for these layers, written out so that
//         it needs no autocast API (which changed between libtorch 1.x and 2.x).
//   activation_checkpointing: a block keeps only its input for backward and is
//         recomputed during backward (PyTorch's reentrant checkpoint, as a
//         custom autograd function).
#pragma once

#include <torch/torch.h>

#include "model/transformer.h"

namespace seedforge {

// The layers are the model's own modules (norms, projections, MLP); attention
// is computed in a fused form (train_forward.cpp) that equals the model's to
// float rounding but makes fewer passes over the [T, T] scores.
//
// tokens: [B, T] int64 -> logits [B, T, V] fp32. model->forward()'s value (to
// float rounding) when bf16 is off, with or without checkpointing.
// attention_kernel: use the CPU attention kernel where it applies (fp32 on an
// AVX2 CPU); false = always the GEMM form (for comparisons).
torch::Tensor training_logits(Transformer& model, const torch::Tensor& tokens, bool bf16, bool activation_checkpointing,
                              bool attention_kernel = true);

// The same up to the head: the final norm's output [B, T, C] in the residual
// stream's dtype (training_logits = model->head(this) in fp32).
torch::Tensor training_hidden(Transformer& model, const torch::Tensor& tokens, bool bf16, bool activation_checkpointing,
                              bool attention_kernel = true);

// One decoder layer of `model` as training_logits runs it (fused attention,
// no checkpointing): x [B, T, C] (positions 0..T-1, T <= max_seq_len, the
// dtype of the residual stream) -> [B, T, C]. The block-wise trainer's
// forward (blockwise.h).
torch::Tensor training_layer_forward(Transformer& model, int64_t layer, const torch::Tensor& x,
                                     bool attention_kernel = true);

// Causal attention of stacked query groups: q [N, R, D] (row r at position
// r % T), k, v [N, T, D], bias = additive causal mask [R, T] -> [N, R, D].
// With use_kernel on an fp32 CPU tensor and an AVX2 CPU: the kernel of
// causal_attention_kernel.h (bias unused); else baddbmm + softmax + bmm.
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& bias, double scale, bool use_kernel);
// Whether the AVX2 attention kernel runs: this CPU has AVX2 + FMA and
// SEEDFORGE_ISA (common/cpu_isa.h) does not cap the dispatch below avx2.
bool attention_kernel_available();

}  // namespace seedforge
