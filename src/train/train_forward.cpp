// The training forward pass (see train_forward.h).
//
// Attention is computed in a fused form that gives the model's values (to float
// rounding) with fewer passes over the [T, T] score matrices, which dominate a
// training step of a small model with long windows:
//   scores = baddbmm(causal_bias, q, k^T, alpha = 1/sqrt(D))   one pass: scale and mask in the GEMM
//   probs  = softmax(scores) (fp32), out = probs v
// and grouped-query heads share their key/value head without copying it: the
// rep = H / Hkv query heads of one KV head are stacked as rep*T rows of one
// GEMM, instead of repeating k and v rep times. Dimensions: B batch, T
// positions, C dim, H heads, Hkv KV heads, D head dim.
#include "train/train_forward.h"

#include <cmath>
#include <cstdint>
#include <limits>

namespace seedforge {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// x: [B, h, T, D] -> x*cos + rotate_half(x)*sin, HF half-split RoPE with cos/sin [T, D].
torch::Tensor rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

// Additive causal bias for rep stacked groups of T queries: [rep*T, T], row
// (r, i) sees keys 0..i (0), later keys get -inf.
torch::Tensor causal_bias(int64_t t, int64_t rep, const torch::TensorOptions& options) {
  const auto bias = torch::zeros({t, t}, options.dtype(torch::kFloat32))
                        .masked_fill_(torch::ones({t, t}, options.dtype(torch::kBool)).triu_(1),
                                      -std::numeric_limits<float>::infinity());
  return bias.repeat({rep, 1}).to(options.dtype());
}

// x: [B, T, C] -> attention output [B, T, C]; bias from causal_bias().
torch::Tensor fused_attention(AttentionImpl& a, const torch::Tensor& x, const torch::Tensor& cos,
                              const torch::Tensor& sin, const torch::Tensor& bias) {
  const int64_t b = x.size(0), t = x.size(1);
  const int64_t h = a.n_heads, hkv = a.n_kv_heads, d = a.head_dim, rep = h / hkv;
  auto q = a.q_proj->forward(x).view({b, t, h, d}).transpose(1, 2);    // [B, H, T, D]
  auto k = a.k_proj->forward(x).view({b, t, hkv, d}).transpose(1, 2);  // [B, Hkv, T, D]
  auto v = a.v_proj->forward(x).view({b, t, hkv, d}).transpose(1, 2);
  q = rope(q, cos.to(q.scalar_type()), sin.to(q.scalar_type())).reshape({b * hkv, rep * t, d});
  k = rope(k, cos.to(k.scalar_type()), sin.to(k.scalar_type())).reshape({b * hkv, t, d});
  v = v.reshape({b * hkv, t, d});
  const auto scores = torch::baddbmm(bias, q, k.transpose(1, 2), /*beta=*/1.0, /*alpha=*/1.0 / std::sqrt(double(d)));
  const auto probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());  // [B*Hkv, rep*T, T]
  const auto out = torch::bmm(probs, v);                                                 // [B*Hkv, rep*T, D]
  return a.o_proj->forward(out.view({b, h, t, d}).transpose(1, 2).reshape({b, t, h * d}));
}

// One decoder layer as DecoderLayerImpl::forward computes it, with fused attention.
torch::Tensor layer_forward(DecoderLayerImpl& layer, const torch::Tensor& x, const torch::Tensor& cos,
                            const torch::Tensor& sin, const torch::Tensor& bias) {
  const auto h = x + fused_attention(*layer.self_attn, layer.input_layernorm->forward(x), cos, sin, bias);
  return h + layer.mlp->forward(layer.post_attention_layernorm->forward(h));
}

// y = layer(x) without keeping the layer's intermediates; backward reruns the
// layer with grad on and back-propagates through that fresh graph, which
// accumulates the parameter gradients and yields dL/dx. The layer has no
// randomness (no dropout), so the recomputation is exact.
struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& cos,
                               const torch::Tensor& sin, const torch::Tensor& bias, int64_t layer_address) {
    ctx->save_for_backward({x});
    ctx->saved_data["cos"] = cos;
    ctx->saved_data["sin"] = sin;
    ctx->saved_data["bias"] = bias;
    ctx->saved_data["layer"] = layer_address;
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(static_cast<intptr_t>(layer_address));
    return layer_forward(*layer, x, cos, sin, bias);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const torch::Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(static_cast<intptr_t>(ctx->saved_data["layer"].toInt()));
    torch::Tensor y;
    {
      torch::AutoGradMode enable(true);
      y = layer_forward(*layer, x, ctx->saved_data["cos"].toTensor(), ctx->saved_data["sin"].toTensor(),
                        ctx->saved_data["bias"].toTensor());
    }
    torch::autograd::backward({y}, {grad[0]});
    return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor training_logits(Transformer& model, const torch::Tensor& tokens, bool bf16, bool activation_checkpointing) {
  TORCH_CHECK(tokens.dim() == 2, "training_logits: tokens must be [B, T], got ", tokens.sizes());
  const ModelConfig& config = model->config();
  const int64_t t = tokens.size(1);
  TORCH_CHECK(t <= config.max_seq_len, "training_logits: ", t, " tokens exceed max_seq_len ", config.max_seq_len);
  auto buffers = model->named_buffers(/*recurse=*/false);
  const torch::Tensor cos = buffers["rope_cos"].narrow(0, 0, t);
  const torch::Tensor sin = buffers["rope_sin"].narrow(0, 0, t);
  torch::Tensor x = model->model->embed_tokens->forward(tokens);  // [B, T, C]
  if (bf16) x = x.to(torch::kBFloat16);
  const torch::Tensor bias = causal_bias(t, config.n_heads / config.n_kv_heads, x.options());
  const bool checkpoint = activation_checkpointing && torch::GradMode::is_enabled();
  for (const auto& module : *model->model->layers) {
    auto* layer = module->as<DecoderLayerImpl>();
    if (checkpoint) {
      x = CheckpointedLayer::apply(x, cos, sin, bias, static_cast<int64_t>(reinterpret_cast<intptr_t>(layer)));
    } else {
      x = layer_forward(*layer, x, cos, sin, bias);
    }
  }
  return model->head(model->model->norm->forward(x)).to(torch::kFloat32);  // [B, T, V]
}

}  // namespace seedforge
