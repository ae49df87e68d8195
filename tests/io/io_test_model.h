// A tiny Llama-family state dict in Hugging Face naming (see
// model/transformer.h), with deterministic random values, for checkpoint tests.
#pragma once

#include <torch/torch.h>

#include <string>

#include "model/model_config.h"
#include "model/transformer.h"

namespace seedforge::test {

inline ModelConfig tiny_config(bool tied = true, bool bias = false) {
  ModelConfig c;
  c.architecture = bias ? "qwen2" : "llama";
  c.dim = 16;
  c.hidden_dim = 40;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.vocab_size = 32;
  c.max_seq_len = 64;
  c.rope_theta = 500000.0;
  c.norm_eps = 1e-5;
  c.tie_embeddings = tied;
  c.attention_bias = bias;
  c.bos_id = 1;
  c.eos_id = 2;
  return c;
}

inline StateDict tiny_state_dict(const ModelConfig& c, uint64_t seed = 1) {
  torch::manual_seed(seed);
  const int64_t D = c.dim / c.n_heads;
  StateDict sd;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) { sd.emplace_back(name, torch::randn(shape)); };
  add("model.embed_tokens.weight", {c.vocab_size, c.dim});
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {c.dim});
    add(p + "self_attn.q_proj.weight", {c.n_heads * D, c.dim});
    add(p + "self_attn.k_proj.weight", {c.n_kv_heads * D, c.dim});
    add(p + "self_attn.v_proj.weight", {c.n_kv_heads * D, c.dim});
    if (c.attention_bias) {
      add(p + "self_attn.q_proj.bias", {c.n_heads * D});
      add(p + "self_attn.k_proj.bias", {c.n_kv_heads * D});
      add(p + "self_attn.v_proj.bias", {c.n_kv_heads * D});
    }
    add(p + "self_attn.o_proj.weight", {c.dim, c.n_heads * D});
    add(p + "post_attention_layernorm.weight", {c.dim});
    add(p + "mlp.gate_proj.weight", {c.hidden_dim, c.dim});
    add(p + "mlp.up_proj.weight", {c.hidden_dim, c.dim});
    add(p + "mlp.down_proj.weight", {c.dim, c.hidden_dim});
  }
  add("model.norm.weight", {c.dim});
  if (!c.tie_embeddings) add("lm_head.weight", {c.vocab_size, c.dim});
  return sd;
}

inline void expect_same_state_dict(const StateDict& a, const StateDict& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.scalar_type(), b[i].second.scalar_type()) << a[i].first;
    EXPECT_TRUE(a[i].second.sizes() == b[i].second.sizes()) << a[i].first;
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

inline void expect_same_config(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.hidden_dim, b.hidden_dim);
  EXPECT_EQ(a.n_layers, b.n_layers);
  EXPECT_EQ(a.n_heads, b.n_heads);
  EXPECT_EQ(a.n_kv_heads, b.n_kv_heads);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.max_seq_len, b.max_seq_len);
  EXPECT_DOUBLE_EQ(a.rope_theta, b.rope_theta);
  EXPECT_DOUBLE_EQ(a.norm_eps, b.norm_eps);
  EXPECT_EQ(a.tie_embeddings, b.tie_embeddings);
  EXPECT_EQ(a.attention_bias, b.attention_bias);
  EXPECT_EQ(a.bos_id, b.bos_id);
  EXPECT_EQ(a.eos_id, b.eos_id);
}

}  // namespace seedforge::test
