// The Llama-family decoder (see transformer.h for names and shapes).
// A plain reading of HF's modeling_llama.py, in libtorch.
#include "model/transformer.h"

#include <cmath>
#include <set>

#include "common/error.h"

namespace seedforge {

namespace {

// cos/sin for HF half-split RoPE: [max_seq, D], each half repeated.
std::pair<torch::Tensor, torch::Tensor> rope_tables(const ModelConfig& config) {
  const int64_t d = config.head_dim();
  auto inv_freq = torch::pow(config.rope_theta, -torch::arange(0, d, 2, torch::kFloat64) / double(d));
  auto pos = torch::arange(config.max_seq_len, torch::kFloat64);
  auto freqs = torch::outer(pos, inv_freq);     // [S, D/2]
  auto emb = torch::cat({freqs, freqs}, -1);    // [S, D]
  return {emb.cos().to(torch::kFloat32), emb.sin().to(torch::kFloat32)};
}

// x: [B, H, T, D] -> x*cos + rotate_half(x)*sin with cos/sin [T, D].
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half);
  auto x2 = x.narrow(-1, half, half);
  auto rotated = torch::cat({-x2, x1}, -1);
  return x * cos + rotated * sin;
}

}  // namespace

LinearLayer make_dense_linear(int64_t in_features, int64_t out_features, bool with_bias) {
  // Through shared_ptr<LinearLayerImpl>: ModuleHolder's forwarding constructor
  // would otherwise try to build the abstract base.
  std::shared_ptr<LinearLayerImpl> impl = std::make_shared<DenseLinearImpl>(in_features, out_features, with_bias);
  return LinearLayer(impl);
}

DenseLinearImpl::DenseLinearImpl(int64_t in_features, int64_t out_features, bool with_bias) {
  // Kaiming-uniform like nn.Linear; loaders overwrite it anyway.
  const double bound = 1.0 / std::sqrt(double(in_features));
  weight = register_parameter("weight", torch::empty({out_features, in_features}).uniform_(-bound, bound));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out_features}));
}

torch::Tensor DenseLinearImpl::forward(const torch::Tensor& x) {
  return torch::nn::functional::linear(x, weight.to(x.dtype()), bias.defined() ? bias.to(x.dtype()) : bias);
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto xf = x.to(torch::kFloat32);
  auto normed = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (normed * weight.to(torch::kFloat32)).to(x.dtype());
}

AttentionImpl::AttentionImpl(const ModelConfig& c)
    : n_heads(c.n_heads), n_kv_heads(c.n_kv_heads), head_dim(c.head_dim()) {
  q_proj = register_module("q_proj", make_dense_linear(c.dim, n_heads * head_dim, c.attention_bias));
  k_proj = register_module("k_proj", make_dense_linear(c.dim, n_kv_heads * head_dim, c.attention_bias));
  v_proj = register_module("v_proj", make_dense_linear(c.dim, n_kv_heads * head_dim, c.attention_bias));
  o_proj = register_module("o_proj", make_dense_linear(n_heads * head_dim, c.dim, false));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                     KVCache* cache, int64_t layer) {
  const int64_t b = x.size(0), t = x.size(1);
  auto q = q_proj->forward(x).view({b, t, n_heads, head_dim}).transpose(1, 2);     // [B, H, T, D]
  auto k = k_proj->forward(x).view({b, t, n_kv_heads, head_dim}).transpose(1, 2);  // [B, Hkv, T, D]
  auto v = v_proj->forward(x).view({b, t, n_kv_heads, head_dim}).transpose(1, 2);
  q = apply_rope(q, cos.to(q.dtype()), sin.to(q.dtype()));
  k = apply_rope(k, cos.to(k.dtype()), sin.to(k.dtype()));

  int64_t past = 0;
  if (cache != nullptr) {
    past = cache->length;
    cache->k[layer].narrow(2, past, t).copy_(k);
    cache->v[layer].narrow(2, past, t).copy_(v);
    k = cache->k[layer].narrow(2, 0, past + t);
    v = cache->v[layer].narrow(2, 0, past + t);
  }
  const int64_t s = past + t;
  // Grouped-query attention without copying keys and values per query head:
  // the G = H / Hkv query heads that share a key/value head (head h uses kv
  // head h / G) become G*T rows of one [G*T, S] score matrix per kv head. With
  // a KV cache this avoids copying the whole cache G times at every step.
  const int64_t g = n_heads / n_kv_heads;
  q = (q * (1.0 / std::sqrt(double(head_dim)))).reshape({b, n_kv_heads, g * t, head_dim});
  // The 1/sqrt(D) scale goes on q ([.., T, D]) rather than on the scores
  // ([.., T, S]): one pass over the small tensor instead of the large one.
  auto scores = torch::matmul(q, k.transpose(-2, -1));  // [B, Hkv, G*T, S]
  if (t > 1) {
    // Query i (absolute position past+i) sees keys 0..past+i. In place: the
    // scores are a fresh tensor, and at T = 512 each copy is B*H*T*T floats.
    auto mask = torch::ones({t, s}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).triu(past + 1);
    scores.view({b, n_kv_heads, g, t, s}).masked_fill_(mask, -std::numeric_limits<float>::infinity());
  }
  auto probs = scores.scalar_type() == torch::kFloat32 ? torch::softmax(scores, -1)
                                                       : torch::softmax(scores.to(torch::kFloat32), -1).to(q.dtype());
  auto out = torch::matmul(probs, v).view({b, n_heads, t, head_dim});  // [B, H, T, D]
  out = out.transpose(1, 2).reshape({b, t, n_heads * head_dim});      // [B, T, H*D]
  return o_proj->forward(out);
}

MLPImpl::MLPImpl(const ModelConfig& c) {
  gate_proj = register_module("gate_proj", make_dense_linear(c.dim, c.hidden_dim, false));
  up_proj = register_module("up_proj", make_dense_linear(c.dim, c.hidden_dim, false));
  down_proj = register_module("down_proj", make_dense_linear(c.hidden_dim, c.dim, false));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  return down_proj->forward(torch::silu(gate_proj->forward(x)) * up_proj->forward(x));
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c) {
  self_attn = register_module("self_attn", Attention(c));
  mlp = register_module("mlp", MLP(c));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.dim, c.norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.dim, c.norm_eps));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                        KVCache* cache, int64_t layer) {
  auto h = x + self_attn->forward(input_layernorm->forward(x), cos, sin, cache, layer);
  return h + mlp->forward(post_attention_layernorm->forward(h));
}

LlamaModelImpl::LlamaModelImpl(const ModelConfig& c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.dim));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.n_layers; ++i) layers->push_back(DecoderLayer(c));
  norm = register_module("norm", RMSNorm(c.dim, c.norm_eps));
}

TransformerImpl::TransformerImpl(const ModelConfig& config) : config_(config) {
  config_.validate("model config");
  model = register_module("model", LlamaModel(config_));
  if (!config_.tie_embeddings) {
    lm_head = register_module("lm_head", make_dense_linear(config_.dim, config_.vocab_size, false));
  }
  auto [cos, sin] = rope_tables(config_);
  rope_cos_ = register_buffer("rope_cos", cos);
  rope_sin_ = register_buffer("rope_sin", sin);
}

torch::Tensor TransformerImpl::output_weight() const {
  return config_.tie_embeddings ? model->embed_tokens->weight : lm_head->weight;
}

torch::Tensor TransformerImpl::hidden_states(const torch::Tensor& tokens) {
  TORCH_CHECK(tokens.dim() == 2, "tokens must be [B, T]");
  const int64_t t = tokens.size(1);
  TORCH_CHECK(t <= config_.max_seq_len, "sequence of ", t, " tokens exceeds max_seq_len ", config_.max_seq_len);
  auto cos = rope_cos_.narrow(0, 0, t);
  auto sin = rope_sin_.narrow(0, 0, t);
  auto x = model->embed_tokens->forward(tokens);
  for (const auto& layer : *model->layers) x = layer->as<DecoderLayerImpl>()->forward(x, cos, sin, nullptr, 0);
  return model->norm->forward(x);
}

torch::Tensor TransformerImpl::head(const torch::Tensor& hidden) {
  return torch::matmul(hidden, output_weight().to(hidden.dtype()).t());
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& tokens) { return head(hidden_states(tokens)); }

torch::Tensor TransformerImpl::layer_forward(int64_t l, const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 3, "layer_forward: x must be [B, T, C]");
  TORCH_CHECK(l >= 0 && l < config_.n_layers, "layer_forward: no layer ", l);
  const int64_t t = x.size(1);
  TORCH_CHECK(t <= config_.max_seq_len, "sequence of ", t, " tokens exceeds max_seq_len ", config_.max_seq_len);
  const auto cos = rope_cos_.narrow(0, 0, t).to(x.device());
  const auto sin = rope_sin_.narrow(0, 0, t).to(x.device());
  return model->layers[static_cast<size_t>(l)]->as<DecoderLayerImpl>()->forward(x, cos, sin, nullptr, 0);
}

KVCache TransformerImpl::make_cache(int64_t batch, int64_t max_len) const {
  KVCache cache;
  auto options = model->embed_tokens->weight.options().requires_grad(false);
  for (int64_t i = 0; i < config_.n_layers; ++i) {
    cache.k.push_back(torch::zeros({batch, config_.n_kv_heads, max_len, config_.head_dim()}, options));
    cache.v.push_back(torch::zeros({batch, config_.n_kv_heads, max_len, config_.head_dim()}, options));
  }
  return cache;
}

torch::Tensor TransformerImpl::forward_cached(const torch::Tensor& tokens, KVCache& cache) {
  const int64_t t = tokens.size(1);
  const int64_t capacity = cache.k.empty() ? 0 : cache.k[0].size(2);
  TORCH_CHECK(cache.length + t <= std::min(capacity, config_.max_seq_len), "KV cache full: ", cache.length, " + ", t,
              " positions exceed ", std::min(capacity, config_.max_seq_len));
  auto cos = rope_cos_.narrow(0, cache.length, t);
  auto sin = rope_sin_.narrow(0, cache.length, t);
  auto x = model->embed_tokens->forward(tokens);
  int64_t index = 0;
  for (const auto& layer : *model->layers) {
    x = layer->as<DecoderLayerImpl>()->forward(x, cos, sin, &cache, index++);
  }
  cache.length += t;
  return head(model->norm->forward(x));
}

std::vector<std::string> projection_names(const ModelConfig& config) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < config.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    for (const char* n : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                          "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
      names.push_back(p + n);
    }
  }
  return names;
}

torch::ScalarType exact_narrow_type(const torch::Tensor& t) {
  for (const torch::ScalarType narrow : {torch::kBFloat16, torch::kFloat16}) {
    if (t.to(narrow).to(t.scalar_type()).equal(t)) return narrow;
  }
  return torch::kFloat32;
}

int64_t narrow_exact_projections(Transformer& model) {
  torch::NoGradGuard no_grad;
  const auto modules = model->named_modules();
  int64_t freed = 0;
  for (const std::string& name : projection_names(model->config())) {
    const std::shared_ptr<torch::nn::Module>* m = modules.find(name);
    auto* dense = m == nullptr ? nullptr : dynamic_cast<DenseLinearImpl*>(m->get());
    if (dense == nullptr) throw usage_error("narrow_exact_projections: ", name, " is not a dense projection");
    torch::Tensor& w = dense->weight;
    if (w.scalar_type() != torch::kFloat32) continue;
    const torch::ScalarType narrow = exact_narrow_type(w);
    if (narrow == torch::kFloat32) continue;
    freed += w.numel() * int64_t(w.element_size() - torch::elementSize(narrow));
    w.set_data(w.to(narrow));
  }
  return freed;
}

int projection_element_bytes(const StateDict& tensors, const ModelConfig& config) {
  std::set<std::string> weights;
  for (const std::string& name : projection_names(config)) weights.insert(name + ".weight");
  bool any = false;
  for (const auto& [name, t] : tensors) {
    if (weights.count(name) == 0) continue;
    if (exact_narrow_type(t.to(torch::kFloat32)) == torch::kFloat32) return 4;
    any = true;
  }
  return any ? 2 : 4;
}

StateDict model_state_dict(const Transformer& model) {
  StateDict out;
  for (const auto& item : model->named_parameters(/*recurse=*/true)) {
    out.emplace_back(item.key(), item.value().detach());
  }
  return out;
}

namespace {

// load_state_dict's checks, with `assign` putting each tensor in its parameter.
template <typename Assign>
void assign_state_dict(Transformer& model, const StateDict& tensors, const std::string& where, Assign assign) {
  torch::NoGradGuard no_grad;
  auto params = model->named_parameters(/*recurse=*/true);
  std::set<std::string> seen;
  for (const auto& [name, value] : tensors) {
    if (name == "lm_head.weight" && model->config().tie_embeddings) {
      // A tied checkpoint may still carry lm_head.weight (HF state_dict() does); it must equal the embeddings.
      for (const auto& [other, embed] : tensors) {
        if (other == "model.embed_tokens.weight" && !torch::equal(value.to(torch::kFloat32), embed.to(torch::kFloat32))) {
          throw input_error(where, ": config says tied embeddings but lm_head.weight differs from model.embed_tokens.weight");
        }
      }
      continue;
    }
    if (name.find("rotary_emb.inv_freq") != std::string::npos) continue;  // HF buffer, recomputed here
    torch::Tensor* param = params.find(name);
    if (param == nullptr) throw input_error(where, ": unexpected tensor '", name, "' for this model config");
    if (param->sizes() != value.sizes()) {
      throw input_error(where, ": tensor '", name, "' has shape ", value.sizes(), ", expected ", param->sizes());
    }
    assign(*param, value);
    seen.insert(name);
  }
  for (const auto& item : params) {
    if (!seen.count(item.key())) throw input_error(where, ": tensor '", item.key(), "' is missing");
  }
}

}  // namespace

void load_state_dict(Transformer& model, const StateDict& tensors, const std::string& where) {
  assign_state_dict(model, tensors, where, [](torch::Tensor& param, const torch::Tensor& value) { param.copy_(value); });
}

void release_parameter_storage(Transformer& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.set_data(torch::zeros({}, p.options()).expand(p.sizes()));
}

void adopt_state_dict(Transformer& model, StateDict&& tensors, const std::string& where) {
  assign_state_dict(model, tensors, where, [](torch::Tensor& param, const torch::Tensor& value) {
    param.set_data(value.to(param.device(), param.scalar_type()).contiguous());
  });
  tensors.clear();
  tensors.shrink_to_fit();
}

Transformer build_model(const ModelConfig& config, const StateDict& tensors, const std::string& where) {
  config.validate(where);
  Transformer model(config);
  load_state_dict(model, tensors, where);
  model->eval();
  return model;
}

}  // namespace seedforge
