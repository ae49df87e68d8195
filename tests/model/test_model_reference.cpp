// The C++ transformer against an independent PyTorch implementation
// (tests/python/llama2c_reference.py, llama2.c layout with complex RoPE):
// logits and the gradients of a cross-entropy loss, within 1e-5.
#include <torch/torch.h>

#include <fstream>

#include "io/llama2c_reader.h"
#include "model/transformer.h"
#include "test_util.h"

using namespace seedforge;

namespace {

ModelConfig small_config() {
  ModelConfig c;
  c.dim = 32;
  c.hidden_dim = 56;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;  // grouped-query attention
  c.vocab_size = 40;
  c.max_seq_len = 24;
  c.tie_embeddings = false;
  return c;
}

torch::Tensor read_floats(const std::string& path, std::vector<int64_t> shape) {
  std::ifstream in(path, std::ios::binary);
  auto t = torch::empty(shape, torch::kFloat32);
  in.read(reinterpret_cast<char*>(t.data_ptr<float>()), t.numel() * 4);
  EXPECT_TRUE(in.good()) << path;
  return t;
}

}  // namespace

TEST(ModelReference, LogitsAndGradientsMatchPyTorch) {
  torch::manual_seed(7);
  const ModelConfig config = small_config();
  Transformer model(config);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.copy_(torch::randn_like(p) * 0.3 + (p.dim() == 1 ? 1.0 : 0.0));
  }
  test::TempDir dir;
  const std::string model_path = dir.file("model.bin");
  save_llama2c(config, model_state_dict(model), model_path);

  const int64_t B = 3, T = 20;
  auto ids = torch::randint(0, config.vocab_size, {B, T + 1}, torch::kInt64).contiguous();
  {
    std::ofstream out(dir.file("tokens.i64"), std::ios::binary);
    out.write(reinterpret_cast<const char*>(ids.data_ptr<int64_t>()), ids.numel() * 8);
  }
  const std::string script = std::string(SEEDFORGE_SOURCE_DIR) + "/tests/python/llama2c_reference.py";
  const auto r = test::run_command(test::python() + " " + script + " " + model_path + " " + dir.file("tokens.i64") + " " +
                                   std::to_string(B) + " " + std::to_string(T) + " " + dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // Reload through the reader so the C++ side also exercises the q/k permutation.
  Checkpoint ck = load_llama2c(model_path);
  Transformer reloaded = build_model(ck.config, ck.tensors, model_path);
  auto logits = reloaded->forward(ids.narrow(1, 0, T));
  auto expected_logits = read_floats(dir.file("logits.f32"), {B, T, config.vocab_size});
  const double logit_diff = (logits - expected_logits).abs().max().item<double>();
  std::cout << "max |logits - pytorch| = " << logit_diff << "\n";
  EXPECT_LT(logit_diff, 1e-5);

  auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, config.vocab_size}), ids.narrow(1, 1, T).reshape({-1}));
  double expected_loss = 0;
  std::ifstream(dir.file("loss.txt")) >> expected_loss;
  EXPECT_NEAR(loss.item<double>(), expected_loss, 1e-5);
  loss.backward();

  Checkpoint grads = load_llama2c(dir.file("grads.bin"));
  auto params = reloaded->named_parameters();
  double worst = 0;
  for (const auto& [name, expected] : grads.tensors) {
    const torch::Tensor* p = params.find(name);
    ASSERT_NE(p, nullptr) << name;
    ASSERT_TRUE(p->grad().defined()) << name;
    const double diff = (p->grad() - expected).abs().max().item<double>();
    worst = std::max(worst, diff);
    EXPECT_LT(diff, 1e-5) << name;
  }
  std::cout << "max |grad - pytorch| = " << worst << " over " << grads.tensors.size() << " tensors\n";
}

TEST(ModelReference, CachedForwardEqualsFullForward) {
  torch::manual_seed(3);
  ModelConfig config = small_config();
  config.attention_bias = true;  // Qwen2-style q/k/v biases
  Transformer model(config);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.copy_(torch::randn_like(p) * 0.3);
  auto ids = torch::randint(0, config.vocab_size, {2, 12}, torch::kInt64);
  auto full = model->forward(ids);
  KVCache cache = model->make_cache(2, 12);
  auto first = model->forward_cached(ids.narrow(1, 0, 5), cache);
  std::vector<torch::Tensor> steps{first};
  for (int64_t t = 5; t < 12; ++t) steps.push_back(model->forward_cached(ids.narrow(1, t, 1), cache));
  auto cached = torch::cat(steps, 1);
  EXPECT_LT((full - cached).abs().max().item<double>(), 1e-5);
}
