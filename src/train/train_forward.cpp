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
//
// On a CPU with AVX2, fp32 attention instead runs causal_attention_kernel.h:
// the same values without ever storing the scores (flash-attention style,
// recomputed in backward), which removes the step's largest memory traffic.
#include "train/train_forward.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/cpu_isa.h"
#include "train/causal_attention_kernel.h"

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

// q [N, R, D], k, v [N, T, D] -> o [N, R, D] through the CPU kernel; saves
// only q, k, v, o and the row log-sum-exps for backward.
struct KernelAttention : public torch::autograd::Function<KernelAttention> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q_in, const torch::Tensor& k_in,
                               const torch::Tensor& v_in, double scale) {
    const torch::Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    const int64_t n = q.size(0);
    const CausalAttentionShape shape{q.size(1), k.size(1), q.size(2), static_cast<float>(scale)};
    torch::Tensor o = torch::empty_like(q);
    torch::Tensor lse = torch::empty({n, shape.rows}, q.options());
    const float *qp = q.data_ptr<float>(), *kp = k.data_ptr<float>(), *vp = v.data_ptr<float>();
    float *op = o.data_ptr<float>(), *lp = lse.data_ptr<float>();
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> scratch(static_cast<size_t>(causal_attention_scratch(shape)));
      for (int64_t i = begin; i < end; ++i) {
        causal_attention_forward_avx2(shape, qp + i * shape.rows * shape.d, kp + i * shape.t * shape.d,
                                      vp + i * shape.t * shape.d, op + i * shape.rows * shape.d, lp + i * shape.rows,
                                      scratch.data());
      }
    });
    ctx->save_for_backward({q, k, v, o, lse});
    ctx->saved_data["scale"] = scale;
    return o;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &o = saved[3], &lse = saved[4];
    const torch::Tensor g = grad[0].contiguous();
    const int64_t n = q.size(0);
    const CausalAttentionShape shape{q.size(1), k.size(1), q.size(2),
                                     static_cast<float>(ctx->saved_data["scale"].toDouble())};
    torch::Tensor dq = torch::empty_like(q), dk = torch::empty_like(k), dv = torch::empty_like(v);
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> scratch(static_cast<size_t>(causal_attention_scratch(shape)));
      for (int64_t i = begin; i < end; ++i) {
        const int64_t qo = i * shape.rows * shape.d, ko = i * shape.t * shape.d;
        causal_attention_backward_avx2(shape, q.data_ptr<float>() + qo, k.data_ptr<float>() + ko,
                                       v.data_ptr<float>() + ko, o.data_ptr<float>() + qo,
                                       lse.data_ptr<float>() + i * shape.rows, g.data_ptr<float>() + qo,
                                       dq.data_ptr<float>() + qo, dk.data_ptr<float>() + ko, dv.data_ptr<float>() + ko,
                                       scratch.data());
      }
    });
    return {dq, dk, dv, torch::Tensor()};
  }
};

// x: [B, T, C] -> attention output [B, T, C]; bias from causal_bias().
torch::Tensor fused_attention(AttentionImpl& a, const torch::Tensor& x, const torch::Tensor& cos,
                              const torch::Tensor& sin, const torch::Tensor& bias, bool use_kernel) {
  const int64_t b = x.size(0), t = x.size(1);
  const int64_t h = a.n_heads, hkv = a.n_kv_heads, d = a.head_dim, rep = h / hkv;
  auto q = a.q_proj->forward(x).view({b, t, h, d}).transpose(1, 2);    // [B, H, T, D]
  auto k = a.k_proj->forward(x).view({b, t, hkv, d}).transpose(1, 2);  // [B, Hkv, T, D]
  auto v = a.v_proj->forward(x).view({b, t, hkv, d}).transpose(1, 2);
  q = rope(q, cos.to(q.scalar_type()), sin.to(q.scalar_type())).reshape({b * hkv, rep * t, d});
  k = rope(k, cos.to(k.scalar_type()), sin.to(k.scalar_type())).reshape({b * hkv, t, d});
  v = v.reshape({b * hkv, t, d});
  const auto out = causal_attention(q, k, v, bias, 1.0 / std::sqrt(double(d)), use_kernel);  // [B*Hkv, rep*T, D]
  return a.o_proj->forward(out.view({b, h, t, d}).transpose(1, 2).reshape({b, t, h * d}));
}

// One decoder layer as DecoderLayerImpl::forward computes it, with fused attention.
torch::Tensor layer_forward(DecoderLayerImpl& layer, const torch::Tensor& x, const torch::Tensor& cos,
                            const torch::Tensor& sin, const torch::Tensor& bias, bool use_kernel) {
  const auto h = x + fused_attention(*layer.self_attn, layer.input_layernorm->forward(x), cos, sin, bias, use_kernel);
  return h + layer.mlp->forward(layer.post_attention_layernorm->forward(h));
}

// y = layer(x) without keeping the layer's intermediates; backward reruns the
// layer with grad on and back-propagates through that fresh graph, which
// accumulates the parameter gradients and yields dL/dx. The layer has no
// randomness (no dropout), so the recomputation is exact.
struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& cos,
                               const torch::Tensor& sin, const torch::Tensor& bias, int64_t layer_address,
                               bool use_kernel) {
    ctx->save_for_backward({x});
    ctx->saved_data["kernel"] = use_kernel;
    ctx->saved_data["cos"] = cos;
    ctx->saved_data["sin"] = sin;
    ctx->saved_data["bias"] = bias;
    ctx->saved_data["layer"] = layer_address;
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(static_cast<intptr_t>(layer_address));
    return layer_forward(*layer, x, cos, sin, bias, use_kernel);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const torch::Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(static_cast<intptr_t>(ctx->saved_data["layer"].toInt()));
    torch::Tensor y;
    {
      torch::AutoGradMode enable(true);
      y = layer_forward(*layer, x, ctx->saved_data["cos"].toTensor(), ctx->saved_data["sin"].toTensor(),
                        ctx->saved_data["bias"].toTensor(), ctx->saved_data["kernel"].toBool());
    }
    torch::autograd::backward({y}, {grad[0]});
    return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

// SEEDFORGE_ISA=generic turns the kernel off: the GEMM form is what a CPU
// without AVX2 runs.
bool attention_kernel_available() {
  return causal_attention_avx2_available() && static_cast<int>(isa_ceiling()) >= static_cast<int>(Isa::kAvx2);
}

torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& bias, double scale, bool use_kernel) {
  if (use_kernel && q.device().is_cpu() && q.scalar_type() == torch::kFloat32 && attention_kernel_available()) {
    return KernelAttention::apply(q, k, v, scale);
  }
  const auto scores = torch::baddbmm(bias, q, k.transpose(1, 2), /*beta=*/1.0, /*alpha=*/scale);
  const auto probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());  // [N, R, T]
  return torch::bmm(probs, v);
}

torch::Tensor training_layer_forward(Transformer& model, int64_t layer, const torch::Tensor& x, bool attention_kernel) {
  TORCH_CHECK(x.dim() == 3, "training_layer_forward: x must be [B, T, C], got ", x.sizes());
  const ModelConfig& config = model->config();
  const int64_t t = x.size(1);
  TORCH_CHECK(t <= config.max_seq_len, "training_layer_forward: ", t, " positions exceed max_seq_len ", config.max_seq_len);
  TORCH_CHECK(layer >= 0 && layer < config.n_layers, "training_layer_forward: no layer ", layer);
  auto buffers = model->named_buffers(/*recurse=*/false);
  // The tables follow x: the block-wise trainer moves one block, not the model, to the GPU.
  const torch::Tensor cos = buffers["rope_cos"].narrow(0, 0, t).to(x.device());
  const torch::Tensor sin = buffers["rope_sin"].narrow(0, 0, t).to(x.device());
  const torch::Tensor bias = causal_bias(t, config.n_heads / config.n_kv_heads, x.options());
  auto* block = model->model->layers[static_cast<size_t>(layer)]->as<DecoderLayerImpl>();
  return layer_forward(*block, x, cos, sin, bias, attention_kernel);
}

torch::Tensor training_logits(Transformer& model, const torch::Tensor& tokens, bool bf16, bool activation_checkpointing,
                              bool attention_kernel) {
  return model->head(training_hidden(model, tokens, bf16, activation_checkpointing, attention_kernel))
      .to(torch::kFloat32);  // [B, T, V]
}

torch::Tensor training_hidden(Transformer& model, const torch::Tensor& tokens, bool bf16, bool activation_checkpointing,
                              bool attention_kernel) {
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
      x = CheckpointedLayer::apply(x, cos, sin, bias, static_cast<int64_t>(reinterpret_cast<intptr_t>(layer)),
                                   attention_kernel);
    } else {
      x = layer_forward(*layer, x, cos, sin, bias, attention_kernel);
    }
  }
  return model->model->norm->forward(x);  // [B, T, C]
}

}  // namespace seedforge
