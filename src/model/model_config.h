// ModelConfig: the hyper-parameters of a Llama-family decoder (Llama, Mistral,
// Qwen2, llama2.c). Torch-free so that readers, the codec and the config
// layers can use it without libtorch.
#pragma once

#include <cstdint>
#include <string>

namespace seedforge {

struct ModelConfig {
  std::string architecture = "llama";  // "llama", "mistral", "qwen2" (informational)
  int64_t dim = 0;                     // hidden size C
  int64_t hidden_dim = 0;              // SwiGLU inner size
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;              // grouped-query attention: n_heads % n_kv_heads == 0
  int64_t vocab_size = 0;
  int64_t max_seq_len = 0;
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  bool tie_embeddings = true;          // lm_head shares model.embed_tokens.weight
  bool attention_bias = false;         // q/k/v biases, as in Qwen2
  int64_t bos_id = 1;
  int64_t eos_id = 2;

  int64_t head_dim() const { return n_heads > 0 ? dim / n_heads : 0; }

  // Throws usage/input error naming the first inconsistent field.
  void validate(const std::string& where) const;
};

}  // namespace seedforge
