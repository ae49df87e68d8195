// Tiny Llama models for fuzzing: the fixed shards behind fuzz_hf_folder and
// the weights make_seeds writes into every checkpoint format. Values are
// deterministic, so rebuilt seed corpora are byte-identical.
#pragma once

#include <torch/torch.h>

#include <string>

#include "model/model_config.h"
#include "model/transformer.h"

namespace seedforge::fuzz {

// A 2-layer Llama with grouped-query attention and an untied classifier.
inline ModelConfig tiny_model_config() {
  ModelConfig c;
  c.dim = 8;
  c.hidden_dim = 16;
  c.n_layers = 2;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.vocab_size = 16;
  c.max_seq_len = 32;
  c.tie_embeddings = false;
  return c;
}

// Canonical Hugging Face names, fp32, seeded random values.
inline StateDict tiny_model_weights(const ModelConfig& c) {
  torch::manual_seed(1);
  const int64_t kv = c.n_kv_heads * (c.dim / c.n_heads);
  StateDict sd;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) { sd.emplace_back(name, torch::randn(shape)); };
  add("model.embed_tokens.weight", {c.vocab_size, c.dim});
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {c.dim});
    add(p + "self_attn.q_proj.weight", {c.dim, c.dim});
    add(p + "self_attn.k_proj.weight", {kv, c.dim});
    add(p + "self_attn.v_proj.weight", {kv, c.dim});
    add(p + "self_attn.o_proj.weight", {c.dim, c.dim});
    add(p + "post_attention_layernorm.weight", {c.dim});
    add(p + "mlp.gate_proj.weight", {c.hidden_dim, c.dim});
    add(p + "mlp.up_proj.weight", {c.hidden_dim, c.dim});
    add(p + "mlp.down_proj.weight", {c.dim, c.hidden_dim});
  }
  add("model.norm.weight", {c.dim});
  if (!c.tie_embeddings) add("lm_head.weight", {c.vocab_size, c.dim});
  return sd;
}

// fuzz_hf_folder's shards: tiny_model_weights split after layer 0, the
// classifier stored in fp16 (the loaders convert).
inline const char* const kSafetensorsShards[2] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
inline const char* const kPtShards[2] = {"pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"};

inline StateDict hf_shard(int which) {
  StateDict shard;
  for (auto& [name, value] : tiny_model_weights(tiny_model_config())) {
    const bool first = name == "model.embed_tokens.weight" || name.rfind("model.layers.0.", 0) == 0;
    if (first != (which == 0)) continue;
    shard.emplace_back(name, name == "lm_head.weight" ? value.to(torch::kFloat16) : value);
  }
  return shard;
}

}  // namespace seedforge::fuzz
