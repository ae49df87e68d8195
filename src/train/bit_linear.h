// BitLinear: BitNet b1.58's ternary drop-in for the transformer's projections.
//
// Dimensions: N tokens (any leading dims flattened), I in_features, O out_features.
//
// Weights (what the codec later stores, bit for bit):
//   gamma = mean |W|            fp32, over the whole tensor [], per output row [O, 1],
//                               or per row and run of scale_group input columns
//                               [O, ceil(I / scale_group)] (the last run shorter);
//                               rounded to fp16 with fp16_scales (the stored precision)
//   trits = RoundClip(W / (gamma + kTernaryEps), -1, 1)     int8 in {-1, 0, 1},
//                               each weight divided by the gamma of its row and run
//   W_q   = gamma * trits
// Activations, b bits (b = activation_bits, 0 = off), absmax per token:
//   s = max(max_i |x_i|, kActivationEps), Qp = 2^(b-1) - 1, Qn = -2^(b-1)
//   x_q = clamp(round(x * Qp / s), Qn, Qp) * s / Qp          (b = 8: 127 and -128)
// Optional input norm (BitNet's layout): x <- x / sqrt(mean(x^2) + kInputNormEps),
//   parameter-free, applied before the activation quantizer.
// Straight-through estimator blended by lambda in [0, 1]:
//   W_eff = W + lambda * (W_q - W).detach(),  x_eff = x + lambda * (x_q - x).detach()
// so dL/dW = dL/dW_eff and dL/dx = dL/dx_eff exactly (the identity), whatever lambda.
// With lambda = 1 the forward value is exactly W_q (resp. x_q), not W + (W_q - W)
// rounded, so that evaluation at lambda = 1 runs precisely the stored ternary model.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "model/transformer.h"
#include "train/bit_linear_options.h"

namespace seedforge {

// w: [O, I] -> gamma: [] (per tensor), [O, 1] (per row) or [O, G] (per row
// and column run), fp32; only the scale fields of `options` matter.
torch::Tensor ternary_scale(const torch::Tensor& w, const BitNetOptions& options);
// gamma from ternary_scale -> a tensor that broadcasts against [O, in_features].
torch::Tensor spread_scale(const torch::Tensor& gamma, int64_t in_features, const BitNetOptions& options);
// w: [O, I], gamma from ternary_scale -> trits [O, I] int8 in {-1, 0, 1}.
torch::Tensor ternary_trits(const torch::Tensor& w, const torch::Tensor& gamma, const BitNetOptions& options);
// w: [O, I] -> W_q = gamma * trits, fp32 [O, I] (no autograd).
torch::Tensor quantize_weight_ternary(const torch::Tensor& w, const BitNetOptions& options);
// x: [..., I] -> x_q, same shape and dtype (computed in fp32), absmax per last-dim row.
// bits == 0 returns x unchanged.
torch::Tensor quantize_activations(const torch::Tensor& x, int bits);
// x: [..., I] -> x / sqrt(mean(x^2, -1) + kInputNormEps), differentiable, fp32 math.
torch::Tensor bitnet_input_norm(const torch::Tensor& x);

// The blended straight-through estimators (autograd-aware; backward = identity):
// w: [O, I] -> W + lambda (W_q - W); x: [..., I] -> x + lambda (x_q - x).
torch::Tensor ste_weight(const torch::Tensor& w, double lambda, const BitNetOptions& options);
torch::Tensor ste_activations(const torch::Tensor& x, double lambda, int bits);

class BitLinearImpl : public LinearLayerImpl {
 public:
  // Takes over `weight` [O, I] (and `bias` [O] or undefined) as its latent parameters.
  BitLinearImpl(const torch::Tensor& weight, const torch::Tensor& bias, const BitNetOptions& options);
  // x: [..., I] -> [..., O]
  torch::Tensor forward(const torch::Tensor& x) override;

  void set_lambda(double lambda) { lambda_ = lambda; }
  double lambda() const { return lambda_; }
  const BitNetOptions& options() const { return options_; }
  // The weight levels (BitNetOptions::max_level) of this one layer; before
  // its trits are frozen only. usage_error outside [1, 7].
  void set_max_level(int max_level);
  // gamma as the forward at lambda = 1 uses it, in ternary_scale()'s layout,
  // no autograd: the absmean (absmax) value, times the learned gain with
  // learned_scales, or frozen_scale() once frozen.
  torch::Tensor scale() const;

  // Fixes the trits for good (the end-to-end phase after block-wise
  // training, EfficientQAT's E2E-QP): the latent weight's storage becomes the
  // trits themselves, W = gamma * trits, int8 [O, I], 1 byte a weight instead
  // of 4 and no gradient; gamma = gamma0 * gain, where gamma0 (buffer
  // "ternary_scale0", ternary_scale()'s layout) is the absmean scale at the
  // moment of freezing and gain (parameter "scale_gain", flat [K], K =
  // gamma's element count, 1 at first) trains. Flat, so that AdamW's weight
  // decay (matrices only) leaves it alone. The forward value is unchanged
  // bit for bit; lambda is 1 from then on. No way back.
  void freeze_trits();
  bool trits_frozen() const { return frozen_; }
  // gamma0 * gain in ternary_scale()'s layout, fp16-rounded with fp16_scales
  // (what the forward multiplies by), no autograd. Frozen layers only.
  torch::Tensor frozen_scale() const;

 private:
  BitNetOptions options_;
  double lambda_ = 1.0;  // a fresh layer is fully quantized; trainers ramp it
  bool frozen_ = false;
  torch::Tensor gamma0_;  // set by freeze_trits()
  torch::Tensor gain_;    // parameter "scale_gain": from construction with learned_scales, else from freeze_trits()
};

// A BitLinearImpl behind the model's LinearLayer holder.
LinearLayer make_bit_linear(const torch::Tensor& weight, const torch::Tensor& bias, const BitNetOptions& options);

// Swaps q, k, v, o, gate, up and down of every layer for BitLinear in place,
// keeping the very same weight tensors (embeddings, norms and the output head
// stay dense). Lambda starts at 1. Throws usage_error when already converted.
void convert_to_bitnet(Transformer& model, const BitNetOptions& options);

// Sets each BitLinear's max level from bitnet.projection_levels entries
// (projection_levels.h); the trits must not be frozen. usage_error naming
// `where` for a malformed entry or one that matches no projection.
void apply_projection_levels(Transformer& model, const std::vector<std::string>& entries, const std::string& where);

// True when the model's projections are BitLinear layers.
bool is_bitnet(const Transformer& model);

// (canonical name without ".weight", layer) for each projection, in
// projection_names() order. Throws usage_error when the model is not converted.
std::vector<std::pair<std::string, BitLinearImpl*>> bit_linear_layers(const Transformer& model);

// Sets lambda on every BitLinear (0 = full precision, 1 = fully quantized).
// Frozen layers stay at 1.
void set_bitnet_lambda(Transformer& model, double lambda);
// BitLinearImpl::freeze_trits() on every projection (idempotent).
void freeze_trits(Transformer& model);
// True for the trainable gain of a frozen layer's ternary scale
// ("....q_proj.scale_gain"): it is folded into the stored scale, not a tensor
// of the model file.
bool is_scale_gain(const std::string& name);
// The options the model was converted with; max_level, set per layer by
// apply_projection_levels, reads 1.
BitNetOptions bitnet_options_of(const Transformer& model);

// One projection's ternary form, what the codec stores.
struct TernaryWeight {
  std::string name;           // canonical parameter name, e.g. "model.layers.0.self_attn.q_proj.weight"
  int max_level = 1;          // 1: ternary; 2..7: levels -max_level..max_level (BitNetOptions::max_level)
  torch::Tensor trits;        // [O, I] int8 in {-1, 0, 1} (ternary) or [-max_level, max_level]
  torch::Tensor scale;        // fp32 gamma: [] (per tensor), [O] (per row) or [O, G] (per row and column run)
  torch::Tensor dequantized;  // [O, I] fp32: scale * trits, what BitLinear multiplies by at lambda = 1
};
// One BitLinear's, from its current latent weights, or for a frozen one its
// trits and trained scale (CPU tensors). `name`: the layer's canonical name
// without ".weight" (bit_linear_layers).
TernaryWeight ternary_weight(const std::string& name, const BitLinearImpl& layer);
// ternary_weight() of every BitLinear, in bit_linear_layers() order.
std::vector<TernaryWeight> ternary_weights(const Transformer& model);
// model_state_dict() with each projection weight replaced by its dequantized
// ternary value (and frozen layers' scale gains left out): loaded into a
// dense model it runs "weights ternary, activations full precision" (CPU
// tensors).
StateDict ternary_state_dict(const Transformer& model);

}  // namespace seedforge
