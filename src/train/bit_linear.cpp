// BitLinear and its quantizers (definitions in bit_linear.h).
//
// The straight-through estimators are custom autograd functions: the
// quantizer runs once, outside the graph, and backward hands the gradient on
// unchanged. That is exactly the gradient of W + lambda * (W_q - W).detach(),
// and it records one graph node per quantizer instead of the eight or so that
// the written-out expression would, which matters for a model as small as
// stories260K where per-op overhead dominates a training step.
#include "train/bit_linear.h"

#include <cmath>

#include "common/error.h"
#include "train/projection_levels.h"

namespace seedforge {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The quantizer's BitNetOptions from the scalars an autograd function carries.
BitNetOptions quantizer_options(bool per_row, int64_t scale_group, bool fp16_scales, int64_t max_level) {
  BitNetOptions o;
  o.per_row_scale = per_row;
  o.scale_group = scale_group;
  o.fp16_scales = fp16_scales;
  o.max_level = static_cast<int>(max_level);
  return o;
}

// t: [O, I] -> [O, runs, group], the last run padded with zeros: each scale's
// weights along the last dim (per-row-and-run scales).
torch::Tensor scale_runs(const torch::Tensor& t, int64_t group) {
  const int64_t rows = t.size(0), cols = t.size(1), runs = (cols + group - 1) / group, pad = runs * group - cols;
  return (pad > 0 ? torch::constant_pad_nd(t, {0, pad}) : t).view({rows, runs, group});
}

// Forward: W + lambda (W_q - W), exactly W_q at lambda >= 1. Backward: identity.
struct WeightSte : public torch::autograd::Function<WeightSte> {
  static torch::Tensor forward(AutogradContext* /*ctx*/, const torch::Tensor& w, double lambda, bool per_row,
                               int64_t scale_group, bool fp16_scales, int64_t max_level) {
    const BitNetOptions options = quantizer_options(per_row, scale_group, fp16_scales, max_level);
    torch::Tensor q = quantize_weight_ternary(w, options);
    if (lambda < 1.0) q.sub_(w).mul_(lambda).add_(w);
    return q;
  }
  static variable_list backward(AutogradContext* /*ctx*/, variable_list grad) {
    return {grad[0], torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// The per-scale sums of a [O, I] tensor in gamma's layout ([], [O, 1] or [O, G]).
torch::Tensor sum_per_scale(const torch::Tensor& t, const BitNetOptions& o) {
  if (!o.per_row_scale) return t.sum();
  if (o.scale_group <= 0) return t.sum(1, /*keepdim=*/true);
  return scale_runs(t, o.scale_group).sum(2);
}

// a: ternary_scale(W) without fp16 rounding, the part of a learned scale the
// weights give.
torch::Tensor unrounded_scale(const torch::Tensor& w, const BitNetOptions& options) {
  BitNetOptions raw = options;
  raw.fp16_scales = false;
  return ternary_scale(w, raw);
}

// A learned scale: gamma = a * gain, fp16-rounded with fp16_scales.
torch::Tensor learned_gamma(const torch::Tensor& a, const torch::Tensor& gain, const BitNetOptions& options) {
  const torch::Tensor gamma = a * gain.view(a.sizes());
  return options.fp16_scales ? gamma.to(torch::kFloat16).to(torch::kFloat32) : gamma;
}

// Forward: W + lambda (W_q - W), W_q = gamma q, gamma = a * gain (learned_gamma),
// q = RoundClip(W / (gamma + eps), -L, L); exactly W_q at lambda >= 1.
// Backward: dW = the incoming gradient (straight through); d gain = lambda *
// a * sum over the scale's weights of dW_q * dW_q/dgamma with LSQ's
// dW_q/dgamma = q - W / gamma inside the clipping range (|W / gamma| < L) and
// q outside it (the rounding residual: a larger step moves both the values and
// the thresholds), fp16 rounding passed straight through. a is held constant.
struct LearnedScaleWeightSte : public torch::autograd::Function<LearnedScaleWeightSte> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& w, const torch::Tensor& gain, double lambda,
                               bool per_row, int64_t scale_group, bool fp16_scales, int64_t max_level) {
    ctx->save_for_backward({w, gain});
    ctx->saved_data["lambda"] = lambda;
    ctx->saved_data["per_row"] = per_row;
    ctx->saved_data["scale_group"] = scale_group;
    ctx->saved_data["fp16_scales"] = fp16_scales;
    ctx->saved_data["max_level"] = max_level;
    torch::NoGradGuard no_grad;
    const BitNetOptions o = quantizer_options(per_row, scale_group, fp16_scales, max_level);
    const torch::Tensor wf = w.to(torch::kFloat32);
    const torch::Tensor g = spread_scale(learned_gamma(unrounded_scale(wf, o), gain, o), w.size(1), o);
    const double top = static_cast<double>(max_level);
    torch::Tensor q = (wf / (g + kTernaryEps)).round_().clamp_(-top, top).mul_(g);
    if (lambda < 1.0) q.sub_(wf).mul_(lambda).add_(wf);
    return q.to(w.scalar_type());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &w = saved[0], &gain = saved[1];
    const BitNetOptions o =
        quantizer_options(ctx->saved_data["per_row"].toBool(), ctx->saved_data["scale_group"].toInt(),
                          ctx->saved_data["fp16_scales"].toBool(), ctx->saved_data["max_level"].toInt());
    const double lambda = ctx->saved_data["lambda"].toDouble(), top = static_cast<double>(o.max_level);
    torch::NoGradGuard no_grad;
    const torch::Tensor wf = w.to(torch::kFloat32);
    const torch::Tensor a = unrounded_scale(wf, o);
    const torch::Tensor g = spread_scale(learned_gamma(a, gain, o), w.size(1), o);
    const torch::Tensor v = wf / (g + kTernaryEps);
    const torch::Tensor q = v.round().clamp_(-top, top);
    const torch::Tensor dq_dgamma = torch::where(v.abs() < top, q - v, q);
    const torch::Tensor dgamma = sum_per_scale(grad[0].to(torch::kFloat32) * dq_dgamma, o);
    const torch::Tensor dgain = (dgamma * a * lambda).reshape(gain.sizes());
    return {grad[0], dgain, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// Forward: x + lambda (x_q - x) in fp32, cast back to x's dtype. Backward: identity.
struct ActivationSte : public torch::autograd::Function<ActivationSte> {
  static torch::Tensor forward(AutogradContext* /*ctx*/, const torch::Tensor& x, double lambda, int64_t bits) {
    const torch::Tensor xf = x.to(torch::kFloat32);
    torch::Tensor q = quantize_activations(xf, static_cast<int>(bits));
    if (lambda < 1.0) q.sub_(xf).mul_(lambda).add_(xf);
    return q.to(x.scalar_type());
  }
  static variable_list backward(AutogradContext* /*ctx*/, variable_list grad) {
    return {grad[0], torch::Tensor(), torch::Tensor()};
  }
};

// A frozen layer's product: x [..., I] (any float dtype), gamma (fp32, [],
// [O, 1] or [O, G]), trits [O, I] int8 -> x W^T [..., O] in x's dtype,
// W = spread(gamma) * trits. W is rebuilt in backward instead of saved, so
// backward keeps x and nothing weight-sized per layer: the model's frozen
// projections cost their 1-byte trits, plus one layer's W at a time.
// Backward: dx = dy W; dgamma = the sum of dW * trits over each scale's
// weights, dW = dy^T x; fp16 rounding of gamma passes the gradient straight
// through (the stored value is what the forward uses).
struct FrozenTernaryMatmul : public torch::autograd::Function<FrozenTernaryMatmul> {
  static BitNetOptions layout(bool per_row, int64_t scale_group) { return quantizer_options(per_row, scale_group, false, 1); }
  static torch::Tensor weight(const torch::Tensor& gamma, const torch::Tensor& trits, const BitNetOptions& o,
                              bool fp16_scales, torch::ScalarType dtype) {
    const torch::Tensor g = fp16_scales ? gamma.to(torch::kFloat16).to(torch::kFloat32) : gamma;
    return (trits.to(torch::kFloat32) * spread_scale(g, trits.size(1), o)).to(dtype);
  }
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& gamma,
                               const torch::Tensor& trits, bool per_row, int64_t scale_group, bool fp16_scales) {
    ctx->save_for_backward({x, gamma, trits});
    ctx->saved_data["per_row"] = per_row;
    ctx->saved_data["scale_group"] = scale_group;
    ctx->saved_data["fp16_scales"] = fp16_scales;
    torch::NoGradGuard no_grad;
    return x.matmul(weight(gamma, trits, layout(per_row, scale_group), fp16_scales, x.scalar_type()).t());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &gamma = saved[1], &trits = saved[2];
    const BitNetOptions o = layout(ctx->saved_data["per_row"].toBool(), ctx->saved_data["scale_group"].toInt());
    const bool fp16_scales = ctx->saved_data["fp16_scales"].toBool();
    const int64_t rows = trits.size(0), cols = trits.size(1);
    const torch::Tensor dy = grad[0].to(x.scalar_type());
    const torch::Tensor dx = dy.matmul(weight(gamma, trits, o, fp16_scales, x.scalar_type()));
    // dW [O, I] in fp32, then times the trits: d(gamma_s * t_i)/d gamma_s = t_i.
    const torch::Tensor dwt =
        dy.reshape({-1, rows}).t().mm(x.reshape({-1, cols})).to(torch::kFloat32).mul_(trits.to(torch::kFloat32));
    return {dx, sum_per_scale(dwt, o), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

template <typename Module>
BitLinearImpl* as_bit_linear(const Module& holder) {
  return dynamic_cast<BitLinearImpl*>(holder.ptr().get());
}

// Replaces `slot` (registered in `parent` under `name`) by a BitLinear that
// keeps the same weight and bias tensors.
void swap_for_bit_linear(torch::nn::Module& parent, const std::string& name, LinearLayer& slot,
                         const BitNetOptions& options) {
  LinearLayer replacement = make_bit_linear(slot->weight, slot->bias, options);
  parent.replace_module(name, replacement.ptr());
  slot = replacement;
}

}  // namespace

torch::Tensor ternary_scale(const torch::Tensor& w, const BitNetOptions& options) {
  TORCH_CHECK(w.dim() == 2, "ternary_scale: expected a [out, in] matrix, got ", w.sizes());
  torch::NoGradGuard no_grad;
  const torch::Tensor a = w.to(torch::kFloat32).abs();
  torch::Tensor gamma;
  if (options.max_level > 1) {
    // absmax / max_level: the largest weight of each scale's run maps to the top level.
    const double top = options.max_level;
    if (!options.per_row_scale) {
      gamma = a.amax() / top;
    } else if (options.scale_group <= 0) {
      gamma = a.amax(1, /*keepdim=*/true) / top;
    } else {
      gamma = scale_runs(a, options.scale_group).amax(2) / top;  // zero padding cannot raise a maximum
    }
  } else if (!options.per_row_scale) {
    gamma = a.mean();
  } else if (options.scale_group <= 0) {
    gamma = a.mean(1, /*keepdim=*/true);
  } else {
    // Runs of G columns: pad the last run with zeros to G, sum, and divide by
    // each run's real width (G, and what is left for the last run). Runs
    // every forward pass, so no per-call tensor of widths.
    const int64_t cols = a.size(1), group = options.scale_group;
    const int64_t runs = (cols + group - 1) / group, pad = runs * group - cols;
    const torch::Tensor sums = scale_runs(a, group).sum(2);
    gamma = sums / static_cast<double>(group);
    if (pad > 0) gamma.select(1, runs - 1).copy_(sums.select(1, runs - 1) / static_cast<double>(group - pad));
  }
  return options.fp16_scales ? gamma.to(torch::kFloat16).to(torch::kFloat32) : gamma;
}

torch::Tensor spread_scale(const torch::Tensor& gamma, int64_t in_features, const BitNetOptions& options) {
  if (!options.per_row_scale || options.scale_group <= 0) return gamma;
  return gamma.repeat_interleave(options.scale_group, 1).narrow(1, 0, in_features);
}

torch::Tensor ternary_trits(const torch::Tensor& w, const torch::Tensor& gamma, const BitNetOptions& options) {
  torch::NoGradGuard no_grad;
  const torch::Tensor g = spread_scale(gamma, w.size(1), options);
  const double top = options.max_level;
  return (w.to(torch::kFloat32) / (g + kTernaryEps)).round_().clamp_(-top, top).to(torch::kInt8);
}

torch::Tensor quantize_weight_ternary(const torch::Tensor& w, const BitNetOptions& options) {
  torch::NoGradGuard no_grad;
  const torch::Tensor g = spread_scale(ternary_scale(w, options), w.size(1), options);
  const double top = options.max_level;
  return (w.to(torch::kFloat32) / (g + kTernaryEps)).round_().clamp_(-top, top).mul_(g);
}

torch::Tensor quantize_activations(const torch::Tensor& x, int bits) {
  if (bits == 0) return x;
  TORCH_CHECK(bits >= 2 && bits <= 16, "quantize_activations: bits must be 0 or in [2, 16], got ", bits);
  torch::NoGradGuard no_grad;
  const double qp = std::ldexp(1.0, bits - 1) - 1.0;  // 127 for 8 bits
  const double qn = -std::ldexp(1.0, bits - 1);       // -128
  const torch::Tensor xf = x.to(torch::kFloat32);
  const torch::Tensor scale = qp / xf.abs().amax(-1, /*keepdim=*/true).clamp_min_(kActivationEps);  // [..., 1]
  return (xf * scale).round_().clamp_(qn, qp).div_(scale).to(x.scalar_type());
}

torch::Tensor bitnet_input_norm(const torch::Tensor& x) {
  const torch::Tensor xf = x.to(torch::kFloat32);
  return (xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + kInputNormEps)).to(x.scalar_type());
}

torch::Tensor ste_weight(const torch::Tensor& w, double lambda, const BitNetOptions& options) {
  return WeightSte::apply(w, lambda, options.per_row_scale, options.scale_group, options.fp16_scales,
                          static_cast<int64_t>(options.max_level));
}

torch::Tensor ste_activations(const torch::Tensor& x, double lambda, int bits) {
  return ActivationSte::apply(x, lambda, static_cast<int64_t>(bits));
}

BitLinearImpl::BitLinearImpl(const torch::Tensor& w, const torch::Tensor& b, const BitNetOptions& options)
    : options_(options) {
  TORCH_CHECK(w.dim() == 2, "BitLinear: weight must be [out, in], got ", w.sizes());
  validate_bitnet_options(options, "BitLinear");
  weight = register_parameter("weight", w);
  if (b.defined()) bias = register_parameter("bias", b);
  if (options.learned_scales) {
    const int64_t count = ternary_scale(w.detach(), options).numel();
    gain_ = register_parameter("scale_gain", torch::ones({count}, w.options().dtype(torch::kFloat32)));
  }
}

torch::Tensor BitLinearImpl::scale() const {
  if (frozen_) return frozen_scale();
  torch::NoGradGuard no_grad;
  const torch::Tensor w = weight.detach().to(torch::kFloat32);
  return gain_.defined() ? learned_gamma(unrounded_scale(w, options_), gain_.detach(), options_)
                         : ternary_scale(w, options_);
}

torch::Tensor BitLinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = options_.input_norm ? bitnet_input_norm(x) : x;
  if (frozen_) {
    if (options_.activation_bits > 0) h = ste_activations(h, 1.0, options_.activation_bits);
    const torch::Tensor gamma = gamma0_ * gain_.view(gamma0_.sizes());
    const torch::Tensor y = FrozenTernaryMatmul::apply(h, gamma, weight, options_.per_row_scale, options_.scale_group,
                                                       options_.fp16_scales);
    return bias.defined() ? y + bias.to(y.scalar_type()) : y;
  }
  if (options_.activation_bits > 0 && lambda_ > 0.0) h = ste_activations(h, lambda_, options_.activation_bits);
  torch::Tensor w = weight;
  if (lambda_ > 0.0) {
    w = gain_.defined() ? LearnedScaleWeightSte::apply(weight, gain_, lambda_, options_.per_row_scale,
                                                       options_.scale_group, options_.fp16_scales,
                                                       static_cast<int64_t>(options_.max_level))
                        : ste_weight(weight, lambda_, options_);
  }
  return torch::nn::functional::linear(h, w.to(h.scalar_type()), bias.defined() ? bias.to(h.scalar_type()) : bias);
}

void BitLinearImpl::set_max_level(int max_level) {
  if (frozen_) throw usage_error("BitLinear: the levels of a layer with frozen trits cannot change");
  BitNetOptions changed = options_;
  changed.max_level = max_level;
  validate_bitnet_options(changed, "BitLinear");
  options_ = changed;
}

void BitLinearImpl::freeze_trits() {
  if (frozen_) return;
  torch::NoGradGuard no_grad;
  const torch::Tensor w = weight.detach().to(torch::kFloat32);
  // A learned gain is folded into gamma0 and starts again from 1.
  const torch::Tensor gamma = scale().contiguous();
  const torch::Tensor trits = ternary_trits(w, gamma, options_);
  gamma0_ = register_buffer("ternary_scale0", gamma);
  if (gain_.defined()) {
    gain_.detach().fill_(1.0);
    gain_.mutable_grad().reset();
  } else {
    gain_ = register_parameter("scale_gain", torch::ones({gamma.numel()}, gamma.options()));
  }
  // The registered parameter is this very tensor: its storage becomes the
  // trits (the fp32 latent weight is released) and it stops taking gradients.
  weight.mutable_grad().reset();
  weight.set_requires_grad(false);
  weight.set_data(trits);
  lambda_ = 1.0;
  frozen_ = true;
}

torch::Tensor BitLinearImpl::frozen_scale() const {
  TORCH_CHECK(frozen_, "frozen_scale: the layer's trits are not frozen");
  torch::NoGradGuard no_grad;
  const torch::Tensor g = gamma0_ * gain_.view(gamma0_.sizes());
  return options_.fp16_scales ? g.to(torch::kFloat16).to(torch::kFloat32) : g;
}

LinearLayer make_bit_linear(const torch::Tensor& weight, const torch::Tensor& bias, const BitNetOptions& options) {
  std::shared_ptr<LinearLayerImpl> impl = std::make_shared<BitLinearImpl>(weight, bias, options);
  return LinearLayer(impl);
}

void convert_to_bitnet(Transformer& model, const BitNetOptions& options) {
  validate_bitnet_options(options, "convert_to_bitnet");
  if (is_bitnet(model)) throw usage_error("convert_to_bitnet: the model's projections are already BitLinear layers");
  for (const auto& module : *model->model->layers) {
    auto* layer = module->as<DecoderLayerImpl>();
    AttentionImpl& attn = *layer->self_attn;
    swap_for_bit_linear(attn, "q_proj", attn.q_proj, options);
    swap_for_bit_linear(attn, "k_proj", attn.k_proj, options);
    swap_for_bit_linear(attn, "v_proj", attn.v_proj, options);
    swap_for_bit_linear(attn, "o_proj", attn.o_proj, options);
    MLPImpl& mlp = *layer->mlp;
    swap_for_bit_linear(mlp, "gate_proj", mlp.gate_proj, options);
    swap_for_bit_linear(mlp, "up_proj", mlp.up_proj, options);
    swap_for_bit_linear(mlp, "down_proj", mlp.down_proj, options);
  }
}

void apply_projection_levels(Transformer& model, const std::vector<std::string>& entries, const std::string& where) {
  const std::vector<ProjectionLevelsRule> rules = parse_projection_levels(entries, where);
  const auto layers = bit_linear_layers(model);
  std::vector<std::string> names;
  for (const auto& [name, layer] : layers) names.push_back(name);
  check_projection_levels_match(rules, names, where);
  for (const auto& [name, layer] : layers) layer->set_max_level(projection_max_level(rules, name));
}

bool is_bitnet(const Transformer& model) {
  const auto& layers = *model->model->layers;
  if (layers.size() == 0) return false;
  return as_bit_linear(layers[0]->as<DecoderLayerImpl>()->self_attn->q_proj) != nullptr;
}

std::vector<std::pair<std::string, BitLinearImpl*>> bit_linear_layers(const Transformer& model) {
  if (!is_bitnet(model)) throw usage_error("the model has not been converted to BitNet (convert_to_bitnet)");
  std::vector<std::pair<std::string, BitLinearImpl*>> out;
  int64_t index = 0;
  for (const auto& module : *model->model->layers) {
    const auto* layer = module->as<DecoderLayerImpl>();
    const std::string prefix = "model.layers." + std::to_string(index++) + ".";
    const auto& attn = layer->self_attn;
    const auto& mlp = layer->mlp;
    const std::pair<const char*, const LinearLayer*> slots[] = {
        {"self_attn.q_proj", &attn->q_proj}, {"self_attn.k_proj", &attn->k_proj}, {"self_attn.v_proj", &attn->v_proj},
        {"self_attn.o_proj", &attn->o_proj}, {"mlp.gate_proj", &mlp->gate_proj}, {"mlp.up_proj", &mlp->up_proj},
        {"mlp.down_proj", &mlp->down_proj}};
    for (const auto& [name, slot] : slots) {
      BitLinearImpl* bit = as_bit_linear(*slot);
      if (bit == nullptr) throw runtime_error("projection ", prefix, name, " is not a BitLinear in a BitNet model");
      out.emplace_back(prefix + name, bit);
    }
  }
  return out;
}

void set_bitnet_lambda(Transformer& model, double lambda) {
  for (auto& [name, layer] : bit_linear_layers(model)) {
    if (!layer->trits_frozen()) layer->set_lambda(lambda);
  }
}

void freeze_trits(Transformer& model) {
  for (auto& [name, layer] : bit_linear_layers(model)) layer->freeze_trits();
}

bool is_scale_gain(const std::string& name) {
  static const std::string suffix = ".scale_gain";
  return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

BitNetOptions bitnet_options_of(const Transformer& model) {
  BitNetOptions options = bit_linear_layers(model).front().second->options();
  options.max_level = 1;  // per layer (projection_levels), not the model's
  return options;
}

TernaryWeight ternary_weight(const std::string& name, const BitLinearImpl& layer) {
  torch::NoGradGuard no_grad;
  const BitNetOptions& options = layer.options();
  // Scale and trits on the weight's own device, so that they are the very
  // values the layer uses; then to CPU.
  torch::Tensor gamma, trits;
  if (layer.trits_frozen()) {
    gamma = layer.frozen_scale();
    trits = layer.weight.detach();
  } else {
    const torch::Tensor w = layer.weight.detach().to(torch::kFloat32);
    gamma = layer.scale();
    trits = ternary_trits(w, gamma, options);
  }
  TernaryWeight t;
  t.name = name + ".weight";
  t.max_level = options.max_level;
  t.dequantized = (trits.to(torch::kFloat32) * spread_scale(gamma, trits.size(1), options)).cpu().contiguous();
  t.trits = trits.cpu().contiguous();
  const bool one_per_row = options.per_row_scale && options.scale_group <= 0;
  t.scale = (one_per_row ? gamma.squeeze(1) : gamma).cpu().contiguous();
  return t;
}

std::vector<TernaryWeight> ternary_weights(const Transformer& model) {
  std::vector<TernaryWeight> out;
  for (const auto& [name, layer] : bit_linear_layers(model)) out.push_back(ternary_weight(name, *layer));
  return out;
}

StateDict ternary_state_dict(const Transformer& model) {
  std::map<std::string, torch::Tensor> ternary;
  for (auto& t : ternary_weights(model)) ternary[t.name] = t.dequantized;
  StateDict out;
  for (auto& [name, tensor] : model_state_dict(model)) {
    if (is_scale_gain(name)) continue;  // folded into the dequantized weight
    auto it = ternary.find(name);
    out.emplace_back(name, it != ternary.end() ? it->second : tensor.cpu().contiguous());
  }
  return out;
}

}  // namespace seedforge
