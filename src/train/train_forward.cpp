#include "train/train_forward.h"

#include <cstdint>

namespace seedforge {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// y = layer(x) without keeping the layer's intermediates; backward reruns the
// layer with grad on and back-propagates through that fresh graph, which
// accumulates the parameter gradients and yields dL/dx. The layer has no
// randomness (no dropout), so the recomputation is exact.
struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& cos,
                               const torch::Tensor& sin, int64_t layer_address) {
    ctx->save_for_backward({x});
    ctx->saved_data["cos"] = cos;
    ctx->saved_data["sin"] = sin;
    ctx->saved_data["layer"] = layer_address;
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(static_cast<intptr_t>(layer_address));
    return layer->forward(x, cos, sin, nullptr, 0);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const torch::Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    const torch::Tensor cos = ctx->saved_data["cos"].toTensor();
    const torch::Tensor sin = ctx->saved_data["sin"].toTensor();
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(static_cast<intptr_t>(ctx->saved_data["layer"].toInt()));
    torch::Tensor y;
    {
      torch::AutoGradMode enable(true);
      y = layer->forward(x, cos, sin, nullptr, 0);
    }
    torch::autograd::backward({y}, {grad[0]});
    return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor training_logits(Transformer& model, const torch::Tensor& tokens, bool bf16, bool activation_checkpointing) {
  TORCH_CHECK(tokens.dim() == 2, "training_logits: tokens must be [B, T], got ", tokens.sizes());
  const int64_t t = tokens.size(1);
  TORCH_CHECK(t <= model->config().max_seq_len, "training_logits: ", t, " tokens exceed max_seq_len ",
              model->config().max_seq_len);
  auto buffers = model->named_buffers(/*recurse=*/false);
  const torch::Tensor cos = buffers["rope_cos"].narrow(0, 0, t);
  const torch::Tensor sin = buffers["rope_sin"].narrow(0, 0, t);
  torch::Tensor x = model->model->embed_tokens->forward(tokens);  // [B, T, C]
  if (bf16) x = x.to(torch::kBFloat16);
  const bool checkpoint = activation_checkpointing && torch::GradMode::is_enabled();
  for (const auto& module : *model->model->layers) {
    auto* layer = module->as<DecoderLayerImpl>();
    if (checkpoint) {
      x = CheckpointedLayer::apply(x, cos, sin, static_cast<int64_t>(reinterpret_cast<intptr_t>(layer)));
    } else {
      x = layer->forward(x, cos, sin, nullptr, 0);
    }
  }
  return model->head(model->model->norm->forward(x)).to(torch::kFloat32);  // [B, T, V]
}

}  // namespace seedforge
