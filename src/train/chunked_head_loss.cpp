// Chunked head loss (see chunked_head_loss.h).
#include "train/chunked_head_loss.h"

#include <algorithm>

namespace seedforge {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One chunk's summed (not averaged) cross-entropy and KL: h [n, C], w [V, C].
std::pair<torch::Tensor, torch::Tensor> chunk_sums(const torch::Tensor& h, const torch::Tensor& w,
                                                   const torch::Tensor& targets, const TeacherTargets& teacher,
                                                   double temperature) {
  const torch::Tensor logits = h.matmul(w.to(h.scalar_type()).t()).to(torch::kFloat32);  // [n, V]
  const torch::Tensor ce = torch::nn::functional::cross_entropy(
      logits, targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  if (!teacher.defined()) return {ce, torch::zeros({}, ce.options())};
  const double n = double(h.size(0));
  return {ce, distillation_kl(teacher, torch::log_softmax(logits / temperature, -1)) * n};
}

// hidden [N, C], weight [V, C] -> [2]: (mean CE, mean KL).
struct ChunkedHeadLossFn : public torch::autograd::Function<ChunkedHeadLossFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& hidden, const torch::Tensor& weight,
                               const torch::Tensor& targets, const TeacherTargets& teacher, double temperature,
                               int64_t chunk) {
    // The teacher's tensors (some undefined) travel in a struct, which
    // autograd does not treat as inputs.
    ctx->save_for_backward({hidden, weight});
    ctx->saved_data["targets"] = targets;
    ctx->saved_data["full_logp"] = teacher.full_logp;
    ctx->saved_data["top_ids"] = teacher.top_ids;
    ctx->saved_data["top_logp"] = teacher.top_logp;
    ctx->saved_data["rest_logp"] = teacher.rest_logp;
    ctx->saved_data["temperature"] = temperature;
    ctx->saved_data["chunk"] = chunk;
    ctx->saved_data["weight_grad"] = weight.requires_grad();
    torch::NoGradGuard no_grad;
    const int64_t n = hidden.size(0);
    torch::Tensor ce = torch::zeros({}, hidden.options().dtype(torch::kFloat32)), kd = ce.clone();
    for (int64_t s = 0; s < n; s += chunk) {
      const int64_t m = std::min(chunk, n - s);
      auto [c, k] = chunk_sums(hidden.narrow(0, s, m), weight, targets.narrow(0, s, m), slice_targets(teacher, s, m),
                               temperature);
      ce += c;
      kd += k;
    }
    return torch::stack({ce, kd}) / double(n);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &hidden = saved[0], &weight = saved[1];
    const torch::Tensor targets = ctx->saved_data["targets"].toTensor();
    auto tensor = [&](const char* key) {
      const c10::IValue& v = ctx->saved_data[key];
      return v.isTensor() ? v.toTensor() : torch::Tensor();
    };
    const TeacherTargets teacher{tensor("full_logp"), tensor("top_ids"), tensor("top_logp"), tensor("rest_logp")};
    const double temperature = ctx->saved_data["temperature"].toDouble();
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const bool weight_grad = ctx->saved_data["weight_grad"].toBool();
    const int64_t n = hidden.size(0);
    // d(mean)/d(sum) = 1/N, times the incoming gradients of (CE, KL).
    const torch::Tensor g = grad[0].to(torch::kFloat32) / double(n);
    torch::Tensor d_hidden = torch::empty_like(hidden);
    torch::Tensor d_weight = weight_grad ? torch::zeros_like(weight) : torch::Tensor();
    torch::AutoGradMode enable(true);
    const torch::Tensor w = weight.detach().requires_grad_(weight_grad);
    for (int64_t s = 0; s < n; s += chunk) {
      const int64_t m = std::min(chunk, n - s);
      const torch::Tensor h = hidden.narrow(0, s, m).detach().requires_grad_(true);
      auto [c, k] = chunk_sums(h, w, targets.narrow(0, s, m), slice_targets(teacher, s, m), temperature);
      const torch::Tensor total = c * g[0] + k * g[1];
      if (weight_grad) {
        const variable_list d = torch::autograd::grad({total}, {h, w});
        d_hidden.narrow(0, s, m).copy_(d[0]);
        d_weight.add_(d[1]);
      } else {
        d_hidden.narrow(0, s, m).copy_(torch::autograd::grad({total}, {h})[0]);
      }
    }
    return {d_hidden, d_weight, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

TeacherTargets slice_targets(const TeacherTargets& t, int64_t start, int64_t count) {
  auto rows = [&](const torch::Tensor& x) { return x.defined() ? x.narrow(0, start, count) : x; };
  return {rows(t.full_logp), rows(t.top_ids), rows(t.top_logp), rows(t.rest_logp)};
}

HeadLoss chunked_head_loss(const torch::Tensor& hidden, const torch::Tensor& head_weight, const torch::Tensor& targets,
                           const TeacherTargets& teacher, double temperature, int64_t chunk_tokens) {
  TORCH_CHECK(hidden.dim() == 2 && targets.dim() == 1 && targets.size(0) == hidden.size(0),
              "chunked_head_loss: hidden [N, C] and targets [N] expected, got ", hidden.sizes(), " and ", targets.sizes());
  TORCH_CHECK(chunk_tokens > 0, "chunked_head_loss: chunk_tokens must be positive, got ", chunk_tokens);
  const torch::Tensor both =
      ChunkedHeadLossFn::apply(hidden, head_weight, targets, teacher, temperature, chunk_tokens);
  return {both[0], both[1]};
}

}  // namespace seedforge
