// Block-wise fine-tuning (src/train/blockwise.h): a block's gradients equal
// the model's own forward's under the same loss, training lowers a block's
// error against the original below plain ternary rounding, and a run
// stopped after a block and resumed ends with the same weights bit for bit.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "test_util.h"
#include "train/bit_linear.h"
#include "train/blockwise.h"
#include "train/train_forward.h"
#include "train/train_test_util.h"
#include "train/trainer.h"

using namespace seedforge;

namespace {

Transformer clone(const Transformer& dense) { return build_model(dense->config(), model_state_dict(dense), "clone"); }

TrainOptions block_options() {
  TrainOptions o;
  o.mode = "blockwise";
  o.seq_len = 32;
  o.batch_size = 2;
  o.block_windows = 16;
  o.block_steps = 6;
  o.lr = 3e-3;
  o.seed = 5;
  return o;
}

TrainData data_for(const TrainOptions& o) {
  const test::StoriesFixture& f = test::stories_fixture(40);
  return make_train_data(f.docs, "train.txt[:40]", {}, "", *f.loaded.tokenizer, o, 512);
}

}  // namespace

TEST(Blockwise, BlockGradientsEqualTheModelsOwnForwardOnAOneBlockModel) {
  // The block trainer's loss through its fused forward (train_forward.h)
  // against the same mean squared error through DecoderLayerImpl::forward,
  // the model's inference path (its own attention): the gradients of every
  // parameter of the block. Full-precision activations, lambda 0.5: the
  // weight STE blend is exercised, no activation sits on a rounding
  // boundary. The two attention forms add in different orders (float32
  // rounding, about 1e-7 relative per operation over a few chained ones),
  // hence 1e-5 of the largest gradient.
  ModelConfig c = test::tiny_config();
  c.n_layers = 1;
  torch::manual_seed(3);
  Transformer dense(c);
  Transformer student = clone(dense);
  TrainOptions o;
  o.activation_bits = 0;
  convert_to_bitnet(student, bitnet_options(o));
  set_bitnet_lambda(student, 0.5);
  const torch::Tensor tokens = torch::randint(0, c.vocab_size, {3, 12}, torch::kInt64);
  torch::Tensor x, y;
  {
    torch::NoGradGuard no_grad;
    x = student->model->embed_tokens->forward(tokens);
    y = x + 0.1 * torch::randn_like(x);
  }
  auto params = student->model->layers[0]->parameters();
  auto grads_of = [&](const torch::Tensor& loss) {
    for (auto& p : params) p.mutable_grad().reset();
    loss.backward();
    std::vector<torch::Tensor> g;
    for (auto& p : params) g.push_back(p.grad().clone());
    return g;
  };
  const std::vector<torch::Tensor> fused = grads_of(block_mse(student, 0, x, y, /*attention_kernel=*/false));
  auto buffers = student->named_buffers(/*recurse=*/false);
  const torch::Tensor cos = buffers["rope_cos"].narrow(0, 0, 12), sin = buffers["rope_sin"].narrow(0, 0, 12);
  auto* layer = student->model->layers[0]->as<DecoderLayerImpl>();
  const std::vector<torch::Tensor> own = grads_of((layer->forward(x, cos, sin, nullptr, 0) - y).pow(2).mean());
  ASSERT_EQ(fused.size(), own.size());
  ASSERT_EQ(fused.size(), 9u);  // q, k, v, o, gate, up, down, two norms
  for (size_t i = 0; i < fused.size(); ++i) {
    const double scale = own[i].abs().max().item<double>();
    EXPECT_GT(scale, 0.0) << "parameter " << i << " got no gradient";
    EXPECT_LE(test::max_abs_diff(fused[i], own[i]), 1e-5 * scale) << "parameter " << i;
  }
}

TEST(Blockwise, TrainingBeatsPlainRoundingInEveryBlock) {
  const Transformer& dense = test::stories_fixture(40).loaded.model;
  TrainOptions o = block_options();
  o.block_steps = 30;
  Transformer student = clone(dense);
  convert_to_bitnet(student, bitnet_options(o));
  Transformer original = clone(dense);
  const BlockwiseResult r = train_blockwise(student, original, data_for(o), o);
  ASSERT_EQ(r.blocks.size(), size_t(dense->config().n_layers));
  for (const BlockReport& b : r.blocks) {
    EXPECT_GT(b.rounded_mse, 0.0) << "block " << b.block;
    EXPECT_LT(b.trained_mse, b.rounded_mse) << "block " << b.block;
  }
  // Frozen and fully quantized afterwards.
  for (const auto& p : student->parameters()) EXPECT_FALSE(p.requires_grad());
  for (const auto& [name, layer] : bit_linear_layers(student)) EXPECT_EQ(layer->lambda(), 1.0) << name;
  EXPECT_EQ(r.train_tokens, int64_t(r.blocks.size()) * o.block_steps * o.batch_size * o.seq_len);
}

TEST(Blockwise, StoppedAfterABlockAndResumedEqualsTheUninterruptedRun) {
  const Transformer& dense = test::stories_fixture(40).loaded.model;
  test::TempDir dir;
  for (const std::string inputs : {"converted", "original"}) {
    SCOPED_TRACE("block_inputs " + inputs);
    TrainOptions o = block_options();
    o.block_inputs = inputs;
    o.checkpoint_every = 1;
    o.checkpoint_dir = dir.file("ckpt-" + inputs);
    const TrainData data = data_for(o);

    Transformer whole = clone(dense);
    convert_to_bitnet(whole, bitnet_options(o));
    Transformer original = clone(dense);
    train_blockwise(whole, original, data, o);

    Transformer parts = clone(dense);
    convert_to_bitnet(parts, bitnet_options(o));
    int polls = 0;
    BlockwiseHooks stop_after_two;
    stop_after_two.stop_requested = [&] { return ++polls == 2; };
    const BlockwiseResult first = train_blockwise(parts, original, data, o, stop_after_two);
    EXPECT_EQ(first.stopped_after, 2);
    EXPECT_TRUE(std::filesystem::exists(blockwise_checkpoint_file(o.checkpoint_dir)));

    Transformer resumed = clone(dense);
    convert_to_bitnet(resumed, bitnet_options(o));
    o.resume = true;
    const BlockwiseResult second = train_blockwise(resumed, original, data, o);
    EXPECT_EQ(second.start_block, 2);
    EXPECT_EQ(second.blocks.size(), size_t(dense->config().n_layers - 2));
    const StateDict a = model_state_dict(whole), b = model_state_dict(resumed);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first << " differs after the resume";
    }
  }
}

TEST(Blockwise, AnOriginalHoldingItsProjectionsIn16BitsTrainsTheSameStudent) {
  // stage1 keeps a bf16 checkpoint's original in bf16 on the host
  // (narrow_exact_projections). Its blocks' outputs, the targets, are the
  // fp32 original's bit for bit, so the trained student is too.
  StateDict rounded = model_state_dict(test::stories_fixture(40).loaded.model);
  for (auto& [name, t] : rounded) {
    if (t.dim() == 2 && name.rfind("model.layers.", 0) == 0) t = t.to(torch::kBFloat16).to(torch::kFloat32);
  }
  const ModelConfig& c = test::stories_fixture(40).loaded.model->config();
  for (const std::string inputs : {"converted", "original"}) {
    SCOPED_TRACE("block_inputs " + inputs);
    TrainOptions o = block_options();
    o.block_inputs = inputs;
    const TrainData data = data_for(o);
    std::vector<StateDict> students;
    for (const bool narrow : {false, true}) {
      Transformer original = build_model(c, rounded, "rounded");
      if (narrow) {
        ASSERT_GT(narrow_exact_projections(original), 0);
      }
      Transformer student = build_model(c, rounded, "rounded");
      convert_to_bitnet(student, bitnet_options(o));
      train_blockwise(student, original, data, o);
      students.push_back(model_state_dict(student));
    }
    ASSERT_EQ(students[0].size(), students[1].size());
    for (size_t i = 0; i < students[0].size(); ++i) {
      EXPECT_TRUE(torch::equal(students[0][i].second, students[1][i].second)) << students[0][i].first;
    }
  }
}

TEST(Blockwise, ResumeWithAnotherFingerprintIsRefused) {
  const Transformer& dense = test::stories_fixture(40).loaded.model;
  test::TempDir dir;
  TrainOptions o = block_options();
  o.block_steps = 1;
  o.checkpoint_every = 1;
  o.checkpoint_dir = dir.file("ckpt");
  o.fingerprint = "one";
  Transformer student = clone(dense), original = clone(dense);
  convert_to_bitnet(student, bitnet_options(o));
  train_blockwise(student, original, data_for(o), o);
  o.resume = true;
  o.fingerprint = "two";
  Transformer again = clone(dense);
  convert_to_bitnet(again, bitnet_options(o));
  try {
    train_blockwise(again, original, data_for(o), o);
    FAIL() << "a resume with another fingerprint was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("fingerprint 'one'"), std::string::npos) << e.what();
  }
}
