#include "model/parameter_shapes.h"

namespace seedforge {

int64_t ParameterShape::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<ParameterShape> parameter_shapes(const ModelConfig& c) {
  const int64_t q_rows = c.n_heads * c.head_dim(), kv_rows = c.n_kv_heads * c.head_dim();
  std::vector<ParameterShape> out;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, c.dim}});
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string layer = "model.layers." + std::to_string(i) + ".";
    auto projection = [&](const std::string& name, int64_t rows, int64_t cols, bool bias) {
      out.push_back({layer + name + ".weight", {rows, cols}});
      if (bias) out.push_back({layer + name + ".bias", {rows}});
    };
    projection("self_attn.q_proj", q_rows, c.dim, c.attention_bias);
    projection("self_attn.k_proj", kv_rows, c.dim, c.attention_bias);
    projection("self_attn.v_proj", kv_rows, c.dim, c.attention_bias);
    projection("self_attn.o_proj", c.dim, q_rows, false);
    projection("mlp.gate_proj", c.hidden_dim, c.dim, false);
    projection("mlp.up_proj", c.hidden_dim, c.dim, false);
    projection("mlp.down_proj", c.dim, c.hidden_dim, false);
    out.push_back({layer + "input_layernorm.weight", {c.dim}});
    out.push_back({layer + "post_attention_layernorm.weight", {c.dim}});
  }
  out.push_back({"model.norm.weight", {c.dim}});
  if (!c.tie_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, c.dim}});
  return out;
}

int64_t parameter_count(const ModelConfig& config) {
  int64_t n = 0;
  for (const ParameterShape& p : parameter_shapes(config)) n += p.numel();
  return n;
}

}  // namespace seedforge
