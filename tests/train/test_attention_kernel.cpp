// The CPU causal-attention kernels (generic reference loops and AVX2) against
// the GEMM form (baddbmm + softmax + bmm, autograd for the gradients), on
// shapes with T not a multiple of 8 and grouped-query stacking; and the
// training forward with and without the kernel.
#include <torch/torch.h>

#include <limits>

#include "common/cpu_isa.h"
#include "test_util.h"
#include "train/bit_linear.h"
#include "train/causal_attention_kernel.h"
#include "train/train_forward.h"
#include "train/train_test_util.h"

using namespace seedforge;
using test::max_abs_diff;

namespace {

// Named tolerance: fp32 sums in another order, and the AVX2 exp (about 1 ulp).
constexpr double kTolerance = 2e-5;

torch::Tensor causal_bias(int64_t t, int64_t rep) {
  auto bias = torch::zeros({t, t}).masked_fill_(torch::ones({t, t}, torch::kBool).triu_(1),
                                                -std::numeric_limits<float>::infinity());
  return bias.repeat({rep, 1});
}

struct Case {
  int64_t n, rep, t, d;
};

}  // namespace

TEST(AttentionKernel, GenericLoopsMatchTheGemmForm) {
  torch::manual_seed(1);
  for (const Case c : {Case{2, 2, 13, 8}, Case{1, 1, 8, 4}, Case{3, 4, 21, 16}}) {
    const double scale = 1.0 / std::sqrt(double(c.d));
    const auto q = torch::randn({c.n, c.rep * c.t, c.d}).requires_grad_(true);
    const auto k = torch::randn({c.n, c.t, c.d}).requires_grad_(true);
    const auto v = torch::randn({c.n, c.t, c.d}).requires_grad_(true);
    const auto g = torch::randn({c.n, c.rep * c.t, c.d});
    const auto ref = causal_attention(q, k, v, causal_bias(c.t, c.rep), scale, /*use_kernel=*/false);
    (ref * g).sum().backward();

    const CausalAttentionShape shape{c.rep * c.t, c.t, c.d, static_cast<float>(scale)};
    std::vector<float> scratch(static_cast<size_t>(causal_attention_scratch(shape)));
    auto o = torch::empty_like(q), lse = torch::empty({c.n, c.rep * c.t});
    auto dq = torch::empty_like(q), dk = torch::empty_like(k), dv = torch::empty_like(v);
    for (int64_t i = 0; i < c.n; ++i) {
      const auto qi = q[i].detach().contiguous(), ki = k[i].detach().contiguous(), vi = v[i].detach().contiguous();
      auto oi = o[i], li = lse[i], gi = g[i].contiguous(), dqi = dq[i], dki = dk[i], dvi = dv[i];
      causal_attention_forward_generic(shape, qi.data_ptr<float>(), ki.data_ptr<float>(), vi.data_ptr<float>(),
                                       oi.data_ptr<float>(), li.data_ptr<float>(), scratch.data());
      causal_attention_backward_generic(shape, qi.data_ptr<float>(), ki.data_ptr<float>(), vi.data_ptr<float>(),
                                        oi.data_ptr<float>(), li.data_ptr<float>(), gi.data_ptr<float>(),
                                        dqi.data_ptr<float>(), dki.data_ptr<float>(), dvi.data_ptr<float>(),
                                        scratch.data());
    }
    EXPECT_LT(max_abs_diff(o, ref), kTolerance);
    EXPECT_LT(max_abs_diff(dq, q.grad()), kTolerance);
    EXPECT_LT(max_abs_diff(dk, k.grad()), kTolerance);
    EXPECT_LT(max_abs_diff(dv, v.grad()), kTolerance);
    // log-sum-exp of row 0 (one key): its only score.
    const double s00 = scale * (q[0][0] * k[0][0]).sum().item<double>();
    EXPECT_NEAR(lse[0][0].item<double>(), s00, 1e-5);
  }
}

TEST(AttentionKernel, Avx2MatchesTheGemmFormForwardAndBackward) {
  if (!attention_kernel_available()) GTEST_SKIP() << "no AVX2/FMA on this CPU, or SEEDFORGE_ISA=generic";
  torch::manual_seed(2);
  for (const Case c : {Case{4, 2, 37, 8}, Case{2, 1, 8, 8}, Case{3, 3, 64, 16}, Case{2, 2, 5, 12}}) {
    const double scale = 1.0 / std::sqrt(double(c.d));
    const auto bias = causal_bias(c.t, c.rep);
    const auto q0 = torch::randn({c.n, c.rep * c.t, c.d}) * 2.0, k0 = torch::randn({c.n, c.t, c.d}) * 2.0;
    const auto v0 = torch::randn({c.n, c.t, c.d});
    const auto g = torch::randn({c.n, c.rep * c.t, c.d});
    torch::Tensor outs[2], grads[2][3];
    for (int kernel = 0; kernel < 2; ++kernel) {
      auto q = q0.clone().requires_grad_(true), k = k0.clone().requires_grad_(true), v = v0.clone().requires_grad_(true);
      outs[kernel] = causal_attention(q, k, v, bias, scale, kernel == 1);
      (outs[kernel] * g).sum().backward();
      grads[kernel][0] = q.grad();
      grads[kernel][1] = k.grad();
      grads[kernel][2] = v.grad();
    }
    EXPECT_LT(max_abs_diff(outs[1], outs[0]), kTolerance) << "T " << c.t;
    for (int i = 0; i < 3; ++i) EXPECT_LT(max_abs_diff(grads[1][i], grads[0][i]), kTolerance) << "T " << c.t << " grad " << i;
  }
}

TEST(AttentionKernel, TrainingForwardAtEveryIsaLevelMatchesTheGemmForm) {
  // Float activations: the A8 quantizer's rounding would turn the kernels'
  // last-bit differences into whole quantization steps now and then (see
  // Trainer.GradientAccumulationEqualsALargerBatch); the kernel is what is compared.
  BitNetOptions options;
  options.activation_bits = 0;
  auto model = [&] {
    Transformer m = test::tiny_model(41);
    convert_to_bitnet(m, options);
    set_bitnet_lambda(m, 0.5);
    return m;
  };
  const auto tokens = torch::randint(0, 32, {3, 29}, torch::kInt64);
  Transformer gemm = model();
  const auto lg = training_logits(gemm, tokens, false, false, /*attention_kernel=*/false);
  lg.pow(2).mean().backward();
  const auto pg = gemm->named_parameters();
  for (Isa isa : kAllIsas) {
    if (!cpu_has_isa(isa)) continue;
    // SEEDFORGE_ISA=generic runs what a CPU without AVX2 runs: the GEMM form.
    test::ScopedEnv env("SEEDFORGE_ISA", isa_name(isa));
    EXPECT_EQ(attention_kernel_available(), isa != Isa::kGeneric && causal_attention_avx2_available()) << isa_name(isa);
    Transformer a = model();
    const auto la = training_logits(a, tokens, false, false, /*attention_kernel=*/true);
    EXPECT_LT(max_abs_diff(la, lg), 1e-4) << isa_name(isa);
    la.pow(2).mean().backward();
    for (const auto& item : a->named_parameters()) {
      const double scale = item.value().grad().abs().max().item<double>();
      EXPECT_LT(max_abs_diff(item.value().grad(), pg[item.key()].grad()), 1e-4 * scale + 1e-7)
          << isa_name(isa) << " " << item.key();
    }
  }
}
