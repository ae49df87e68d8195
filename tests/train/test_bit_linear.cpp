// BitLinear: the quantizers on hand-computed inputs, the straight-through
// gradients as identities, lambda blending, conversion of a model and the
// ternary state dict.
#include <torch/torch.h>

#include "common/error.h"
#include "test_util.h"
#include "train/bit_linear.h"
#include "train/memory_estimate.h"
#include "train/train_test_util.h"

using namespace seedforge;
using test::max_abs_diff;

namespace {
BitNetOptions scales(bool per_row, int64_t group = 0, bool fp16 = false) {
  BitNetOptions o;
  o.per_row_scale = per_row;
  o.scale_group = group;
  o.fp16_scales = fp16;
  return o;
}
}  // namespace

TEST(TernaryQuantizer, PerTensorKnownValues) {
  // mean |W| = (0.5 + 1 + 0 + 2 + 0.1 + 0.3 + 0.6 + 1.5) / 8 = 0.75
  const auto w = torch::tensor({0.5f, -1.0f, 0.0f, 2.0f, 0.1f, -0.3f, 0.6f, -1.5f}).view({2, 4});
  const auto gamma = ternary_scale(w, scales(false));
  EXPECT_FLOAT_EQ(gamma.item<float>(), 0.75f);
  // W / 0.75001: 0.667 -1.333 0 2.667 | 0.133 -0.4 0.8 -2 -> round, clip
  const auto trits = ternary_trits(w, gamma, scales(false));
  EXPECT_EQ(trits.scalar_type(), torch::kInt8);
  const auto expected = torch::tensor({1, -1, 0, 1, 0, 0, 1, -1}, torch::kInt8).view({2, 4});
  EXPECT_TRUE(torch::equal(trits, expected)) << trits;
  const auto q = quantize_weight_ternary(w, scales(false));
  EXPECT_TRUE(torch::equal(q, expected.to(torch::kFloat32) * 0.75f)) << q;
}

TEST(TernaryQuantizer, PerRowKnownValues) {
  // row 0: mean |.| = 0.875, row 1: 0.625
  const auto w = torch::tensor({0.5f, -1.0f, 0.0f, 2.0f, 0.1f, -0.3f, 0.6f, -1.5f}).view({2, 4});
  const auto gamma = ternary_scale(w, scales(true));
  ASSERT_EQ(gamma.sizes(), (std::vector<int64_t>{2, 1}));
  EXPECT_FLOAT_EQ(gamma[0][0].item<float>(), 0.875f);
  EXPECT_FLOAT_EQ(gamma[1][0].item<float>(), 0.625f);
  // row 0 / 0.87501: 0.571 -1.143 0 2.286 -> 1 -1 0 1; row 1 / 0.62501: 0.16 -0.48 0.96 -2.4 -> 0 0 1 -1
  const auto expected = torch::tensor({1, -1, 0, 1, 0, 0, 1, -1}, torch::kInt8).view({2, 4});
  EXPECT_TRUE(torch::equal(ternary_trits(w, gamma, scales(true)), expected));
  const auto q = quantize_weight_ternary(w, scales(true));
  EXPECT_FLOAT_EQ(q[0][0].item<float>(), 0.875f);
  EXPECT_FLOAT_EQ(q[1][3].item<float>(), -0.625f);
}

TEST(TernaryQuantizer, PerRowColumnGroupsKnownValues) {
  // Runs of 2 columns over 5: [0, 1], [2, 3], [4] (the last run one wide).
  // row 0: |0.5, -1| -> 0.75, |0, 2| -> 1, |0.1| -> 0.1; row 1: |-0.3, 0.6| -> 0.45, |-1.5, 0.2| -> 0.85, |-0.4| -> 0.4
  const auto w = torch::tensor({0.5f, -1.0f, 0.0f, 2.0f, 0.1f, -0.3f, 0.6f, -1.5f, 0.2f, -0.4f}).view({2, 5});
  const BitNetOptions o = scales(true, 2);
  const auto gamma = ternary_scale(w, o);
  ASSERT_EQ(gamma.sizes(), (std::vector<int64_t>{2, 3}));
  const auto expected_gamma = torch::tensor({0.75f, 1.0f, 0.1f, 0.45f, 0.85f, 0.4f}).view({2, 3});
  EXPECT_LT(max_abs_diff(gamma, expected_gamma), 1e-7) << gamma;
  // row 0: 0.67 -1.33 | 0 2 | 1 -> 1 -1 0 1 1; row 1: -0.67 1.33 | -1.76 0.24 | -1 -> -1 1 -1 0 -1
  const auto expected = torch::tensor({1, -1, 0, 1, 1, -1, 1, -1, 0, -1}, torch::kInt8).view({2, 5});
  EXPECT_TRUE(torch::equal(ternary_trits(w, gamma, o), expected)) << ternary_trits(w, gamma, o);
  const auto q = quantize_weight_ternary(w, o);
  EXPECT_FLOAT_EQ(q[0][4].item<float>(), gamma[0][2].item<float>());
  EXPECT_FLOAT_EQ(q[1][2].item<float>(), -gamma[1][1].item<float>());
  // A multiple of the group takes the other path (no padding): same as per row with one run.
  EXPECT_TRUE(torch::equal(ternary_scale(w, scales(true, 5)), ternary_scale(w, scales(true))));
}

TEST(TernaryQuantizer, Fp16ScalesAreTheStoredValues) {
  const auto w = torch::tensor({0.1234567f, -0.3f, 0.0f, 0.7f}).view({2, 2});
  for (const BitNetOptions& o : {scales(false, 0, true), scales(true, 0, true), scales(true, 1, true)}) {
    const auto gamma = ternary_scale(w, o);
    const auto exact = ternary_scale(w, scales(o.per_row_scale, o.scale_group));
    EXPECT_TRUE(torch::equal(gamma, exact.to(torch::kFloat16).to(torch::kFloat32)));
    EXPECT_FALSE(torch::equal(gamma, exact));  // these values are not fp16 numbers
    // W_q multiplies by the rounded gamma: what a file with fp16 scales decodes to.
    const auto q = quantize_weight_ternary(w, o);
    EXPECT_TRUE(torch::equal(q, ternary_trits(w, gamma, o).to(torch::kFloat32) * spread_scale(gamma, 2, o)));
  }
}

TEST(TernaryQuantizer, ZeroTensorGivesZeroTritsNotNan) {
  const auto w = torch::zeros({3, 5});
  EXPECT_TRUE(torch::equal(ternary_trits(w, ternary_scale(w, scales(false)), scales(false)), torch::zeros({3, 5}, torch::kInt8)));
  EXPECT_TRUE(torch::equal(quantize_weight_ternary(w, scales(true)), w));
}

TEST(LevelsQuantizer, AbsmaxScaleMapsEachRunsLargestWeightToTheTopLevel) {
  // Max level 2 (five levels), runs of 2 columns over 5: [0, 1], [2, 3], [4].
  // row 0: max |0.5, -1| = 1 -> 0.5; |0, 2| -> 1; |0.1| -> 0.05.
  // row 1: |-0.3, 0.6| -> 0.3; |-1.5, 0.2| -> 0.75; |-0.4| -> 0.2.
  const auto w = torch::tensor({0.5f, -1.0f, 0.0f, 2.0f, 0.1f, -0.3f, 0.6f, -1.5f, 0.2f, -0.4f}).view({2, 5});
  BitNetOptions o = scales(true, 2);
  o.max_level = 2;
  const auto gamma = ternary_scale(w, o);
  const auto expected_gamma = torch::tensor({0.5f, 1.0f, 0.05f, 0.3f, 0.75f, 0.2f}).view({2, 3});
  EXPECT_TRUE(torch::allclose(gamma, expected_gamma, 0.0, 1e-7)) << gamma;
  // W / gamma: 1 -2 | 0 2 | 2;  -1 2 | -2 0.27 | -2 -> rounded, all within -2..2
  const auto trits = ternary_trits(w, gamma, o);
  const auto expected = torch::tensor({1, -2, 0, 2, 2, -1, 2, -2, 0, -2}, torch::kInt8).view({2, 5});
  EXPECT_TRUE(torch::equal(trits, expected)) << trits;
  EXPECT_TRUE(torch::equal(quantize_weight_ternary(w, o), trits.to(torch::kFloat32) * spread_scale(gamma, 5, o)));
  // Max level 1 is BitNet's absmean ternary whatever the path.
  o.max_level = 1;
  EXPECT_TRUE(torch::equal(ternary_scale(w, o), ternary_scale(w, scales(true, 2))));
}

TEST(LearnedScales, GainGradientIsLsqsStepGradientAndTheWeightsPassStraightThrough) {
  // Against the written-out LSQ expression in autograd: W_q = round_ste(clamp(W / s, -L, L)) * s,
  // s = a * gain (a = absmean, held constant), round_ste(x) = x + (round(x) - x).detach().
  for (int level : {1, 2}) {
    BitNetOptions o = scales(true, 4);
    o.activation_bits = 0;
    o.learned_scales = true;
    o.max_level = level;
    torch::manual_seed(5);
    const torch::Tensor w0 = torch::randn({6, 10});
    auto layer = std::make_shared<BitLinearImpl>(w0.clone().requires_grad_(true), torch::Tensor(), o);
    const auto named = layer->named_parameters();
    ASSERT_TRUE(named.contains("scale_gain"));
    torch::Tensor gain = named["scale_gain"];
    ASSERT_EQ(gain.numel(), 6 * 3);
    {
      torch::NoGradGuard no_grad;
      gain.copy_(torch::linspace(0.6, 1.5, 18));  // away from 1, so that the gain matters
    }
    const torch::Tensor x = torch::randn({3, 10}), c = torch::randn({3, 6});
    (layer->forward(x) * c).sum().backward();

    const torch::Tensor w = w0.clone().requires_grad_(true), g = gain.detach().clone().requires_grad_(true);
    BitNetOptions raw = o;
    raw.learned_scales = false;
    const torch::Tensor a = ternary_scale(w0, raw);  // [6, 3]
    const torch::Tensor s = spread_scale(a * g.view({6, 3}), 10, o);
    const torch::Tensor v = torch::clamp(w.detach() / s, -level, level);
    const torch::Tensor wq = (v + (v.round() - v).detach()) * s;
    const torch::Tensor w_eff = w + (wq - w).detach() + (wq - wq.detach());  // value W_q, dW identity, d gain LSQ
    (torch::nn::functional::linear(x, w_eff) * c).sum().backward();

    EXPECT_LT(max_abs_diff(layer->weight.grad(), w.grad()), 1e-6) << "level " << level;
    EXPECT_LT(max_abs_diff(gain.grad(), g.grad()), 1e-4 * g.grad().abs().max().item<double>()) << "level " << level;
    EXPECT_GT(gain.grad().abs().max().item<double>(), 1e-3);
    // The scale the file stores is the product, and the forward multiplies by it.
    torch::NoGradGuard no_grad;
    const torch::Tensor stored = layer->scale();
    EXPECT_LT(max_abs_diff(stored, a * gain.view({6, 3})), 1e-6);
  }
}

TEST(ProjectionLevels, EntriesParseMatchByGlobAndBadOnesAreNamed) {
  Transformer model = test::tiny_model(13);
  convert_to_bitnet(model, BitNetOptions{});
  apply_projection_levels(model, {"*.mlp.*:5", "model.layers.1.mlp.down_proj:15", "*.k_proj:3"}, "cfg");
  for (const auto& [name, layer] : bit_linear_layers(model)) {
    const int expected = name == "model.layers.1.mlp.down_proj" ? 7 : name.find(".mlp.") != std::string::npos ? 2 : 1;
    EXPECT_EQ(layer->options().max_level, expected) << name;
  }
  // The model-wide options do not take one layer's levels.
  EXPECT_EQ(bitnet_options_of(model).max_level, 1);
  auto error = [&](const std::vector<std::string>& entries) {
    try {
      apply_projection_levels(model, entries, "cfg");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(error({"*.down_proj"}).find("bitnet.projection_levels entry \"*.down_proj\""), std::string::npos);
  EXPECT_NE(error({"*.down_proj:4"}).find("odd"), std::string::npos);
  EXPECT_NE(error({"*.down_proj:17"}).find("odd, 3 to 15"), std::string::npos);
  EXPECT_NE(error({"*.down_prj:5"}).find("\"*.down_prj\" matches no projection"), std::string::npos);
  EXPECT_NE(error({":5"}).find("no pattern"), std::string::npos);
  // Frozen trits keep their levels.
  freeze_trits(model);
  EXPECT_NE(error({"*:5"}).find("frozen"), std::string::npos);
}

TEST(ActivationQuantizer, EightBitKnownValues) {
  // max |x| = 2 -> scale 127 / 2 = 63.5: 1 -> 63.5 -> 64 (half to even), -0.5 -> -31.75 -> -32,
  // 0.25 -> 15.875 -> 16, 2 -> 127
  const auto x = torch::tensor({1.0f, -0.5f, 0.25f, 2.0f, 0.0f, 0.0f, 0.0f, 0.0f}).view({2, 4});
  const auto q = quantize_activations(x, 8);
  const float s = 63.5f;
  const auto expected = torch::tensor({64.0f / s, -32.0f / s, 16.0f / s, 127.0f / s, 0.0f, 0.0f, 0.0f, 0.0f}).view({2, 4});
  EXPECT_TRUE(torch::equal(q, expected)) << q;  // the all-zero token stays zero
}

TEST(ActivationQuantizer, OtherWidthsAndOff) {
  // 4 bits: Qp = 7; max 1 -> levels k / 7
  const auto x = torch::tensor({1.0f, 0.5f, -0.3f, 0.07f});
  const auto q = quantize_activations(x, 4);
  const auto expected = torch::tensor({7.0f / 7, 4.0f / 7, -2.0f / 7, 0.0f / 7});  // 3.5 -> 4 (even), -2.1 -> -2, 0.49 -> 0
  EXPECT_TRUE(torch::allclose(q, expected, 0, 1e-7)) << q;
  EXPECT_TRUE(torch::equal(quantize_activations(x, 0), x));
  // A token is quantized over its own max: rows are independent.
  const auto two = torch::tensor({1.0f, 0.5f, 100.0f, 50.0f}).view({2, 2});
  const auto q2 = quantize_activations(two, 8);
  EXPECT_FLOAT_EQ(q2[1][0].item<float>(), 100.0f);
  EXPECT_NEAR(q2[0][1].item<float>(), 64.0f / 127.0f, 1e-7);
  // At most 2^b - 1 distinct levels per token.
  const auto r = torch::randn({1, 4096});
  EXPECT_LE(std::get<0>(torch::_unique(quantize_activations(r, 4))).numel(), 15);
}

TEST(ActivationQuantizer, ATokensCodesDoNotDependOnTheBatchAroundIt) {
  // What makes gradient accumulation exact under A8 (test_trainer compares the
  // accumulation itself with float activations): bit-equal tokens quantize to
  // bit-equal values whether they come in a batch of 4 windows or 2 halves.
  torch::manual_seed(5);
  const auto x = torch::randn({4, 7, 24}) * torch::rand({4, 7, 1}) * 3.0;
  const auto whole = quantize_activations(x, 8);
  for (int64_t half = 0; half < 2; ++half) {
    EXPECT_TRUE(torch::equal(quantize_activations(x.narrow(0, 2 * half, 2), 8), whole.narrow(0, 2 * half, 2)));
  }
  EXPECT_TRUE(torch::equal(quantize_activations(x.reshape({28, 24}), 8), whole.reshape({28, 24})));
}

TEST(StraightThrough, GradientsAreIdentitiesAtAnyLambda) {
  torch::manual_seed(3);
  for (double lambda : {0.0, 0.3, 1.0}) {
    for (const BitNetOptions& options : {scales(false), scales(true), scales(true, 3, true)}) {
      const auto w0 = torch::randn({6, 8}) * 0.2;
      const auto x = torch::randn({2, 3, 8}).requires_grad_(true);
      const auto g = torch::randn({2, 3, 6});
      LinearLayer layer = make_bit_linear(w0.clone(), torch::Tensor(), options);
      dynamic_cast<BitLinearImpl*>(layer.ptr().get())->set_lambda(lambda);
      const auto y = layer->forward(x);
      (y * g).sum().backward();
      // The effective tensors the layer multiplied, written out independently.
      const auto w_eff = w0 + lambda * (quantize_weight_ternary(w0, options) - w0);
      const auto x_eff = x.detach() + lambda * (quantize_activations(x.detach(), 8) - x.detach());
      EXPECT_LT(max_abs_diff(y, torch::matmul(x_eff, w_eff.t())), 1e-5) << "lambda " << lambda;
      // dL/dW = g^T x_eff and dL/dx = g W_eff: the quantizers pass gradients through unchanged.
      const auto gw = torch::matmul(g.reshape({-1, 6}).t(), x_eff.reshape({-1, 8}));
      EXPECT_LT(max_abs_diff(layer->weight.grad(), gw), 1e-5) << "lambda " << lambda;
      EXPECT_LT(max_abs_diff(x.grad(), torch::matmul(g, w_eff)), 1e-5) << "lambda " << lambda;
    }
  }
}

TEST(StraightThrough, LambdaOneIsExactlyTheQuantizedModelAndZeroTheDenseOne) {
  torch::manual_seed(4);
  const auto w = torch::randn({5, 7});
  const auto x = torch::randn({4, 7});
  LinearLayer layer = make_bit_linear(w.clone(), torch::Tensor(), BitNetOptions{});
  auto* bit = dynamic_cast<BitLinearImpl*>(layer.ptr().get());
  torch::NoGradGuard no_grad;
  bit->set_lambda(1.0);
  EXPECT_TRUE(torch::equal(layer->forward(x),
                           torch::nn::functional::linear(quantize_activations(x, 8), quantize_weight_ternary(w, scales(false)))));
  bit->set_lambda(0.0);
  EXPECT_TRUE(torch::equal(layer->forward(x), torch::nn::functional::linear(x, w)));
}

TEST(StraightThrough, InputNormIsParameterFreeRms) {
  torch::manual_seed(5);
  const auto x = torch::randn({3, 8}) * 4.0;
  const auto n = bitnet_input_norm(x);
  EXPECT_LT(max_abs_diff(n.pow(2).mean(-1), torch::ones({3})), 1e-5);
  BitNetOptions options;
  options.input_norm = true;
  options.activation_bits = 0;
  const auto w = torch::randn({2, 8});
  LinearLayer layer = make_bit_linear(w.clone(), torch::Tensor(), options);
  dynamic_cast<BitLinearImpl*>(layer.ptr().get())->set_lambda(0.0);
  torch::NoGradGuard no_grad;
  EXPECT_LT(max_abs_diff(layer->forward(x), torch::matmul(n, w.t())), 1e-6);
}

TEST(ConvertToBitnet, SwapsTheSevenProjectionsKeepingWeights) {
  Transformer model = test::tiny_model(11);
  const StateDict before = model_state_dict(model);
  torch::Tensor q_weight = model->model->layers[0]->as<DecoderLayerImpl>()->self_attn->q_proj->weight;
  torch::Tensor dense_logits;
  const auto tokens = torch::randint(0, 32, {2, 9}, torch::kInt64);
  {
    torch::NoGradGuard no_grad;
    dense_logits = model->forward(tokens);
  }
  EXPECT_FALSE(is_bitnet(model));
  convert_to_bitnet(model, BitNetOptions{});
  EXPECT_TRUE(is_bitnet(model));
  // Same names, same values, and the very same tensor (no copy).
  const StateDict after = model_state_dict(model);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].first, before[i].first);
    EXPECT_TRUE(torch::equal(after[i].second, before[i].second)) << after[i].first;
  }
  EXPECT_TRUE(model->model->layers[0]->as<DecoderLayerImpl>()->self_attn->q_proj->weight.is_same(q_weight));
  const auto layers = bit_linear_layers(model);
  ASSERT_EQ(layers.size(), 14u);
  const auto names = projection_names(model->config());
  for (size_t i = 0; i < layers.size(); ++i) EXPECT_EQ(layers[i].first, names[i]);
  // lambda 0 = the dense model; lambda 1 changes it.
  torch::NoGradGuard no_grad;
  set_bitnet_lambda(model, 0.0);
  EXPECT_TRUE(torch::equal(model->forward(tokens), dense_logits));
  set_bitnet_lambda(model, 1.0);
  EXPECT_GT(max_abs_diff(model->forward(tokens), dense_logits), 1e-3);
  EXPECT_THROW(convert_to_bitnet(model, BitNetOptions{}), Error);
  BitNetOptions bad;
  bad.activation_bits = 1;
  Transformer other = test::tiny_model(12);
  EXPECT_THROW(convert_to_bitnet(other, bad), Error);
}

TEST(TernaryStateDict, DequantizedWeightsAreWhatTheModelRunsAtLambdaOne) {
  BitNetOptions learned = scales(true, 5, true);
  learned.learned_scales = true;
  for (BitNetOptions options : {scales(false), scales(true), scales(true, 5, true), learned}) {
    Transformer model = test::tiny_model(21);
    options.activation_bits = 0;  // so that a dense model can reproduce it
    convert_to_bitnet(model, options);
    if (options.learned_scales) {  // gains away from 1: the stored scale must be the product
      torch::NoGradGuard no_grad;
      for (auto& item : model->named_parameters()) {
        if (is_scale_gain(item.key())) item.value().uniform_(0.5, 1.5);
      }
    }
    const auto ternary = ternary_weights(model);
    ASSERT_EQ(ternary.size(), 14u);
    for (const auto& t : ternary) {
      EXPECT_EQ(t.trits.scalar_type(), torch::kInt8);
      EXPECT_LE(t.trits.abs().max().item<int>(), 1);
      EXPECT_EQ(t.scale.dim(), !options.per_row_scale ? 0 : options.scale_group == 0 ? 1 : 2);
      const auto scale = options.scale_group > 0 ? spread_scale(t.scale, t.trits.size(1), options)
                         : options.per_row_scale ? t.scale.unsqueeze(1)
                                                 : t.scale;
      EXPECT_TRUE(torch::equal(t.dequantized, t.trits.to(torch::kFloat32) * scale)) << t.name;
      if (options.scale_group > 0) {
        EXPECT_EQ(t.scale.size(1), (t.trits.size(1) + 4) / 5) << t.name;
        EXPECT_TRUE(torch::equal(t.scale, t.scale.to(torch::kFloat16).to(torch::kFloat32))) << t.name;
      }
    }
    // A dense model loaded with ternary_state_dict() gives the BitNet model's logits exactly.
    Transformer dense = build_model(model->config(), ternary_state_dict(model), "ternary state dict");
    const auto tokens = torch::randint(0, 32, {2, 12}, torch::kInt64);
    torch::NoGradGuard no_grad;
    set_bitnet_lambda(model, 1.0);
    EXPECT_TRUE(torch::equal(dense->forward(tokens), model->forward(tokens)));
    // Frozen, the trits and scales (a learned gain folded in) are unchanged, and so the logits.
    const auto before = model->forward(tokens);
    freeze_trits(model);
    EXPECT_TRUE(torch::equal(model->forward(tokens), before));
  }
}

// Frozen trits, the end-to-end phase after block-wise training: the trits
// stored as int8, the scale's gain trainable.
TEST(FrozenTrits, ForwardAndTernaryWeightsUnchangedBitForBitWeightsStoredAsInt8) {
  for (BitNetOptions options : {scales(false), scales(true), scales(true, 5, true)}) {
    Transformer model = test::tiny_model(31);
    convert_to_bitnet(model, options);
    const auto tokens = torch::randint(0, 32, {2, 9}, torch::kInt64);
    torch::NoGradGuard no_grad;
    const torch::Tensor before = model->forward(tokens);
    const auto ternary_before = ternary_weights(model);
    const size_t params_before = model_state_dict(model).size();
    freeze_trits(model);
    freeze_trits(model);  // idempotent
    // W = gamma0 * 1 * trits is the very product the quantizer formed.
    EXPECT_TRUE(torch::equal(model->forward(tokens), before));
    set_bitnet_lambda(model, 0.0);  // no effect on frozen layers
    EXPECT_TRUE(torch::equal(model->forward(tokens), before));
    const auto ternary_after = ternary_weights(model);
    ASSERT_EQ(ternary_after.size(), ternary_before.size());
    for (size_t i = 0; i < ternary_after.size(); ++i) {
      EXPECT_TRUE(torch::equal(ternary_after[i].trits, ternary_before[i].trits)) << ternary_after[i].name;
      EXPECT_TRUE(torch::equal(ternary_after[i].scale, ternary_before[i].scale)) << ternary_after[i].name;
      EXPECT_TRUE(torch::equal(ternary_after[i].dequantized, ternary_before[i].dequantized)) << ternary_after[i].name;
    }
    int gains = 0;
    for (const auto& [name, layer] : bit_linear_layers(model)) {
      EXPECT_TRUE(layer->trits_frozen());
      EXPECT_EQ(layer->weight.scalar_type(), torch::kInt8) << name;
      EXPECT_FALSE(layer->weight.requires_grad()) << name;
    }
    for (const auto& [name, value] : model_state_dict(model)) {
      if (!is_scale_gain(name)) continue;
      ++gains;
      EXPECT_EQ(value.dim(), 1) << name;  // flat: no weight decay
      EXPECT_TRUE(torch::equal(value, torch::ones_like(value))) << name;
    }
    EXPECT_EQ(gains, 14);
    int64_t scales = 0;
    for (const auto& [name, layer] : bit_linear_layers(model)) scales += layer->named_parameters()["scale_gain"].numel();
    EXPECT_EQ(scales, ternary_scale_count(model->config(), options.per_row_scale, options.scale_group));
    EXPECT_EQ(model_state_dict(model).size(), params_before + 14);
    EXPECT_EQ(ternary_state_dict(model).size(), params_before);
    // A trained gain is the stored scale: gamma0 * gain, fp16-rounded with fp16_scales.
    auto [name, layer] = bit_linear_layers(model)[3];
    layer->named_parameters()["scale_gain"].fill_(1.5);
    const auto scaled = ternary_weights(model)[3];
    torch::Tensor expected = ternary_before[3].scale * 1.5;
    if (options.fp16_scales) expected = expected.to(torch::kFloat16).to(torch::kFloat32);
    EXPECT_TRUE(torch::equal(scaled.scale, expected)) << name;
    EXPECT_FALSE(torch::equal(model->forward(tokens), before));
  }
  EXPECT_FALSE(is_scale_gain("scale_gain"));
  EXPECT_TRUE(is_scale_gain("model.layers.0.mlp.up_proj.scale_gain"));
}

TEST(FrozenTrits, GradientsEqualTheWrittenOutProduct) {
  // Reference: W = spread(gamma0 * gain) * trits in plain autograd ops (which
  // keeps W and the fp32 trits for backward; the frozen layer rebuilds W).
  // The two differ only in the order of float sums (addmm against mm + add,
  // the group sums), so the tolerance is a few float32 ulps of the values.
  torch::manual_seed(3);
  for (BitNetOptions options : {scales(false), scales(true), scales(true, 4), scales(true, 5, true)}) {
    const torch::Tensor w = torch::randn({6, 13}) * 0.1, b = torch::randn({6}) * 0.01;
    const torch::Tensor gamma0 = ternary_scale(w, options), trits = ternary_trits(w, gamma0, options);
    LinearLayer layer = make_bit_linear(w.clone(), b.clone(), options);
    auto* bit = dynamic_cast<BitLinearImpl*>(layer.ptr().get());
    bit->freeze_trits();
    torch::Tensor gain = bit->named_parameters()["scale_gain"];
    {
      torch::NoGradGuard no_grad;
      gain.copy_(1.0 + 0.1 * torch::randn_like(gain));
    }
    const torch::Tensor x = torch::randn({2, 5, 13}).requires_grad_(), r = torch::randn({2, 5, 6});
    const torch::Tensor y = layer->forward(x);
    (y * r).sum().backward();

    const torch::Tensor xr = x.detach().clone().requires_grad_(), gain_r = gain.detach().clone().requires_grad_();
    const torch::Tensor br = b.clone().requires_grad_();
    torch::Tensor g = gamma0 * gain_r.view(gamma0.sizes());
    if (options.fp16_scales) g = g + (g.to(torch::kFloat16).to(torch::kFloat32) - g).detach();
    const torch::Tensor wr = trits.to(torch::kFloat32) * spread_scale(g, 13, options);
    const torch::Tensor yr = torch::nn::functional::linear(ste_activations(xr, 1.0, 8), wr, br);
    (yr * r).sum().backward();

    auto near = [](const torch::Tensor& a, const torch::Tensor& e) {
      return max_abs_diff(a, e) <= 1e-6 * std::max(1.0, e.abs().max().item<double>());
    };
    EXPECT_TRUE(near(y, yr)) << max_abs_diff(y, yr);
    EXPECT_TRUE(near(x.grad(), xr.grad())) << max_abs_diff(x.grad(), xr.grad());
    EXPECT_TRUE(near(gain.grad(), gain_r.grad())) << gain.grad() << gain_r.grad();
    EXPECT_TRUE(near(bit->bias.grad(), br.grad()));
    EXPECT_GT(gain.grad().abs().max().item<double>(), 0.0);
    EXPECT_FALSE(bit->weight.grad().defined());
  }
}
