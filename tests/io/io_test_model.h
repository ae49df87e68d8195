// A tiny Llama-family state dict in Hugging Face naming (see
// model/transformer.h), with deterministic random values, for checkpoint tests
// and the fuzz seeds (fuzz/tiny_model.h). No GoogleTest here: fuzz targets include it.
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

}  // namespace seedforge::test
