// stories260K through the llama2.c reader and the model: the logits vector of
// ../shared/data/README.md, and the file-size validation of the reader.
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "io/checkpoint.h"
#include "io/llama2c_reader.h"
#include "model/transformer.h"
#include "test_util.h"

using namespace seedforge;

TEST(Stories260K, ConfigFromHeader) {
  Checkpoint ck = load_llama2c(test::stories_model());
  EXPECT_EQ(ck.config.dim, 64);
  EXPECT_EQ(ck.config.hidden_dim, 172);
  EXPECT_EQ(ck.config.n_layers, 5);
  EXPECT_EQ(ck.config.n_heads, 8);
  EXPECT_EQ(ck.config.n_kv_heads, 4);
  EXPECT_EQ(ck.config.vocab_size, 512);
  EXPECT_EQ(ck.config.max_seq_len, 512);
  EXPECT_TRUE(ck.config.tie_embeddings);
  // The loader builds the model from the header before reading the weights
  // (model_loader.cpp): the header alone must give the same config.
  EXPECT_TRUE(checkpoint_config_in_header(test::stories_model()));
  const ModelConfig header = read_checkpoint_header(test::stories_model()).config;
  EXPECT_EQ(header.dim, ck.config.dim);
  EXPECT_EQ(header.hidden_dim, ck.config.hidden_dim);
  EXPECT_EQ(header.n_layers, ck.config.n_layers);
  EXPECT_EQ(header.n_heads, ck.config.n_heads);
  EXPECT_EQ(header.n_kv_heads, ck.config.n_kv_heads);
  EXPECT_EQ(header.vocab_size, ck.config.vocab_size);
  EXPECT_EQ(header.max_seq_len, ck.config.max_seq_len);
  EXPECT_EQ(header.rope_theta, ck.config.rope_theta);
  EXPECT_EQ(header.norm_eps, ck.config.norm_eps);
  EXPECT_EQ(header.tie_embeddings, ck.config.tie_embeddings);
  EXPECT_EQ(header.attention_bias, ck.config.attention_bias);
}

TEST(Stories260K, ReferenceLogits) {
  Checkpoint ck = load_llama2c(test::stories_model());
  Transformer model = build_model(ck.config, ck.tensors, ck.path);
  torch::NoGradGuard no_grad;
  auto tokens = torch::tensor({1, 403, 407, 261, 378}, torch::kInt64).view({1, 5});
  auto last = model->forward(tokens)[0][4];
  EXPECT_EQ(last.argmax().item<int64_t>(), 432);
  const double expected[5] = {-10.1366, -5.3295, -10.1381, -10.1369, -10.1372};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(last[i].item<double>(), expected[i], 1e-3) << "logit " << i;
}

TEST(Stories260K, RoundTripThroughWriterIsExact) {
  Checkpoint ck = load_llama2c(test::stories_model());
  test::TempDir dir;
  save_llama2c(ck.config, ck.tensors, dir.file("copy.bin"));
  Checkpoint again = load_llama2c(dir.file("copy.bin"));
  ASSERT_EQ(again.tensors.size(), ck.tensors.size());
  for (size_t i = 0; i < ck.tensors.size(); ++i) {
    EXPECT_EQ(again.tensors[i].first, ck.tensors[i].first);
    EXPECT_TRUE(torch::equal(again.tensors[i].second, ck.tensors[i].second)) << ck.tensors[i].first;
  }
}

namespace {
std::string error_of(const std::string& path) {
  try {
    load_llama2c(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Llama2cReader, RejectsTruncatedAndInconsistentFiles) {
  test::TempDir dir;
  std::ifstream in(test::stories_model(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  test::write_text(dir.file("truncated.bin"), bytes.substr(0, bytes.size() - 100));
  std::string msg = error_of(dir.file("truncated.bin"));
  EXPECT_NE(msg.find("truncated.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;

  std::string wrong = bytes;
  const int32_t layers = 6;  // header says 6 layers, data holds 5
  std::memcpy(wrong.data() + 8, &layers, 4);
  test::write_text(dir.file("header.bin"), wrong);
  msg = error_of(dir.file("header.bin"));
  EXPECT_NE(msg.find("implies"), std::string::npos) << msg;

  test::write_text(dir.file("short.bin"), bytes.substr(0, 10));
  EXPECT_NE(error_of(dir.file("short.bin")).find("too short"), std::string::npos);

  EXPECT_NE(error_of(dir.file("missing.bin")).find("cannot open"), std::string::npos);

  std::string nan_model = bytes;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan_model.data() + 28 + 4 * 100, &nan, 4);
  test::write_text(dir.file("nan.bin"), nan_model);
  msg = error_of(dir.file("nan.bin"));
  EXPECT_NE(msg.find("NaN"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.embed_tokens.weight"), std::string::npos) << msg;
}

// `stage1 convert` to a Hugging Face folder, a .pt state dict and safetensors:
// the same logits (1e-6) as the llama2.c original.
TEST(Stories260K, ConvertedCopiesGiveTheSameLogits) {
  test::TempDir dir;
  Checkpoint original = load_llama2c(test::stories_model());
  Transformer reference = build_model(original.config, original.tensors, original.path);
  torch::NoGradGuard no_grad;
  auto tokens = torch::tensor({1, 403, 407, 261, 378, 410, 444}, torch::kInt64).view({1, 7});
  auto expected = reference->forward(tokens);
  // A .pt state dict carries no config: the loader reads config.json beside it.
  for (const std::string& target : {dir.file("hf"), dir.file("model.pt"), dir.file("model.safetensors")}) {
    const auto r = test::run_command(test::stage1_binary() + " convert --input " + test::stories_model() + " --output " + target);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  std::filesystem::copy_file(dir.file("hf/config.json"), dir.file("config.json"));
  for (const std::string& path : {dir.file("hf"), dir.file("model.pt"), dir.file("model.safetensors")}) {
    Checkpoint ck = load_checkpoint(path);
    Transformer model = build_model(ck.config, ck.tensors, path);
    const double diff = (model->forward(tokens) - expected).abs().max().item<double>();
    EXPECT_LT(diff, 1e-6) << path;
  }
}

// narrow_exact_projections: stories260K (fp32 values) keeps every projection
// in fp32; rounded to bf16 first, its projections become bf16 (2 bytes a
// weight freed) and its logits do not move by a bit, whatever the batch
// shape, because each product widens the weight back to the same fp32 values.
TEST(Stories260K, ProjectionsNarrowedToTheirExact16BitTypeGiveTheSameLogits) {
  EXPECT_EQ(exact_narrow_type(torch::tensor({1.0f, -0.5f, 3.0f})), torch::kBFloat16);
  EXPECT_EQ(exact_narrow_type(torch::tensor({1.0f + 1.0f / 1024})), torch::kFloat16);  // 10 mantissa bits
  EXPECT_EQ(exact_narrow_type(torch::tensor({1.0f + 1.0f / (1 << 20)})), torch::kFloat32);
  EXPECT_EQ(exact_narrow_type(torch::tensor({1.0f, std::nanf("")})), torch::kFloat32);

  Checkpoint ck = load_llama2c(test::stories_model());
  Transformer raw = build_model(ck.config, ck.tensors, ck.path);
  EXPECT_EQ(projection_element_bytes(ck.tensors, ck.config), 4);
  EXPECT_EQ(narrow_exact_projections(raw), 0);
  for (const auto& p : raw->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);

  int64_t projection_weights = 0;
  for (auto& [name, t] : ck.tensors) {
    if (t.dim() == 2 && name.rfind("model.layers.", 0) == 0) {
      t = t.to(torch::kBFloat16).to(torch::kFloat32);
      projection_weights += t.numel();
    }
  }
  EXPECT_EQ(projection_element_bytes(ck.tensors, ck.config), 2);
  Transformer wide = build_model(ck.config, ck.tensors, ck.path);
  Transformer narrow = build_model(ck.config, ck.tensors, ck.path);
  EXPECT_EQ(narrow_exact_projections(narrow), 2 * projection_weights);
  for (const auto& item : narrow->named_parameters()) {
    const bool projection = item.value().dim() == 2 && item.key().rfind("model.layers.", 0) == 0;
    EXPECT_EQ(item.value().scalar_type(), projection ? torch::kBFloat16 : torch::kFloat32) << item.key();
  }
  torch::NoGradGuard no_grad;
  torch::manual_seed(11);
  for (const int64_t rows : {1, 3}) {
    const torch::Tensor tokens = torch::randint(0, ck.config.vocab_size, {rows, 40}, torch::kInt64);
    EXPECT_TRUE(torch::equal(narrow->forward(tokens), wide->forward(tokens))) << rows << " rows";
  }
}
