// load_pt_checkpoint / save_pt_state_dict: plain and wrapped state dicts,
// prefixes, half-precision weights, configs from config.json or from shapes,
// and the errors for what cannot be known or does not match.
#include <gtest/gtest.h>

#include "io/hf_config.h"
#include "io/pt_state_dict.h"
#include "io_test_model.h"
#include "io_test_util.h"

namespace seedforge {
namespace {

using test::TempDir;

void write_config(const TempDir& dir, const ModelConfig& c) { test::write_bytes(dir.file("config.json"), hf_config_json(c)); }

TEST(PtStateDict, PlainStateDictWithConfigBeside) {
  TempDir dir;
  const ModelConfig config = test::tiny_config(/*tied=*/false);
  const StateDict sd = test::tiny_state_dict(config);
  save_pt_state_dict(dir.file("model.pt"), sd);
  write_config(dir, config);
  test::write_bytes(dir.file("tokenizer.model"), "x");
  const Checkpoint ck = load_pt_checkpoint(dir.file("model.pt"));
  EXPECT_EQ(ck.format, "pt");
  EXPECT_EQ(ck.path, dir.file("model.pt"));
  EXPECT_EQ(ck.tokenizer_path, dir.file("tokenizer.model"));
  test::expect_same_config(ck.config, config);
  test::expect_same_state_dict(ck.tensors, sd);
  // It also builds the model the rest of the project runs.
  EXPECT_NO_THROW(build_model(ck.config, ck.tensors, ck.path));
}

TEST(PtStateDict, WrappedPrefixedHalfPrecision) {
  TempDir dir;
  const ModelConfig config = test::tiny_config();
  const StateDict sd = test::tiny_state_dict(config);
  for (const auto dtype : {torch::kFloat16, torch::kBFloat16}) {
    for (const std::string wrapper : {"state_dict", "model", "module"}) {
      PtValue inner = PtValue::new_dict();
      for (const auto& [name, t] : sd) inner.set("module." + name, PtValue::of_tensor(t.to(dtype)));
      PtValue root = PtValue::new_dict();
      root.set("epoch", PtValue::of_int(3));
      root.set("optimizer", PtValue::new_dict());
      root.set(wrapper, inner);
      write_pt_file(dir.file("ckpt.pt"), root);
      write_config(dir, config);
      const Checkpoint ck = load_pt_checkpoint(dir.file("ckpt.pt"));
      ASSERT_EQ(ck.tensors.size(), sd.size()) << wrapper;
      for (size_t i = 0; i < sd.size(); ++i) {
        EXPECT_EQ(ck.tensors[i].first, sd[i].first);
        EXPECT_EQ(ck.tensors[i].second.scalar_type(), torch::kFloat32);
        EXPECT_TRUE(ck.tensors[i].second.is_contiguous());
        EXPECT_TRUE(torch::equal(ck.tensors[i].second, sd[i].second.to(dtype).to(torch::kFloat32))) << sd[i].first;
      }
    }
  }
}

TEST(PtStateDict, InfersConfigFromShapesAndInvFreq) {
  TempDir dir;
  const ModelConfig config = test::tiny_config(/*tied=*/false, /*bias=*/true);
  StateDict sd = test::tiny_state_dict(config);
  const int64_t D = config.dim / config.n_heads;
  // As HF computes it: 1 / theta^(arange(0, D, 2) / D), in fp32.
  const torch::Tensor inv_freq =
      1.0 / torch::pow(torch::tensor(config.rope_theta, torch::kFloat32), torch::arange(0, D, 2, torch::kFloat32) / D);
  StateDict with_buffers = sd;
  for (int64_t i = 0; i < config.n_layers; ++i) {
    with_buffers.emplace_back("model.layers." + std::to_string(i) + ".self_attn.rotary_emb.inv_freq", inv_freq);
  }
  save_pt_state_dict(dir.file("m.pt"), with_buffers);
  const Checkpoint ck = load_pt_checkpoint(dir.file("m.pt"));
  EXPECT_EQ(ck.config.dim, config.dim);
  EXPECT_EQ(ck.config.hidden_dim, config.hidden_dim);
  EXPECT_EQ(ck.config.n_layers, config.n_layers);
  EXPECT_EQ(ck.config.n_heads, config.n_heads);
  EXPECT_EQ(ck.config.n_kv_heads, config.n_kv_heads);
  EXPECT_EQ(ck.config.vocab_size, config.vocab_size);
  EXPECT_EQ(ck.config.rope_theta, config.rope_theta);
  EXPECT_FALSE(ck.config.tie_embeddings);
  EXPECT_TRUE(ck.config.attention_bias);
  test::expect_same_state_dict(ck.tensors, sd);  // buffers dropped
  EXPECT_EQ(ck.tokenizer_path, "");

  // Without the buffers the head count is unknowable: ask for config.json.
  save_pt_state_dict(dir.file("m.pt"), sd);
  test::expect_input_error([&] { load_pt_checkpoint(dir.file("m.pt")); }, {"m.pt", "config.json", "attention heads"});
}

TEST(PtStateDict, ErrorsNameTheProblem) {
  TempDir dir;
  const ModelConfig config = test::tiny_config();
  StateDict sd = test::tiny_state_dict(config);

  ModelConfig other = config;
  other.vocab_size = 99;
  save_pt_state_dict(dir.file("m.pt"), sd);
  write_config(dir, other);
  test::expect_input_error([&] { load_pt_checkpoint(dir.file("m.pt")); },
                           {"config.json", "vocab_size 99", "model.embed_tokens.weight"});
  std::filesystem::remove(dir.file("config.json"));

  StateDict ints = sd;
  ints[1].second = ints[1].second.to(torch::kInt32);
  save_pt_state_dict(dir.file("i.pt"), ints);
  test::expect_input_error([&] { load_pt_checkpoint(dir.file("i.pt")); }, {ints[1].first, "Int", "float"});

  save_pt_state_dict(dir.file("meta.pt"), {{"tok_embeddings.weight", torch::zeros({4, 4})}});
  test::expect_input_error([&] { load_pt_checkpoint(dir.file("meta.pt")); },
                           {"model.embed_tokens.weight", "tok_embeddings.weight"});

  PtValue list = PtValue::new_list({PtValue::of_int(1)});
  write_pt_file(dir.file("list.pt"), list);
  test::expect_input_error([&] { load_pt_checkpoint(dir.file("list.pt")); }, {"list.pt", "not a dict"});

  PtValue nested = PtValue::new_dict();
  nested.set("weights", PtValue::new_dict());
  nested.set("step", PtValue::of_int(1));
  write_pt_file(dir.file("nested.pt"), nested);
  test::expect_input_error([&] { load_pt_checkpoint(dir.file("nested.pt")); },
                           {"no state dict found", "'weights' (dict)", "'step' (int)"});

  test::expect_error([&] { save_pt_state_dict(dir.file("d.pt"), {{"a", torch::zeros({1})}, {"a", torch::zeros({1})}}); },
                     ErrorKind::kRuntime, {"'a' given twice"});
}

}  // namespace
}  // namespace seedforge
