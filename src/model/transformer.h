// The Llama-family decoder as libtorch modules, in Hugging Face naming.
//
// Dimensions used in shape comments:
//   B batch, T sequence (new tokens), S cached + new positions, C dim,
//   H heads, Hkv key/value heads, D head dim (C / H), F hidden_dim, V vocab.
//
// Parameter names follow HF Llama exactly (named_parameters() yields them):
//   model.embed_tokens.weight                       [V, C]
//   model.layers.{i}.input_layernorm.weight         [C]
//   model.layers.{i}.self_attn.{q,k,v,o}_proj.weight [H*D|Hkv*D|Hkv*D, C], o: [C, H*D]
//   model.layers.{i}.self_attn.{q,k,v}_proj.bias    (attention_bias only)
//   model.layers.{i}.post_attention_layernorm.weight [C]
//   model.layers.{i}.mlp.{gate,up}_proj.weight      [F, C]
//   model.layers.{i}.mlp.down_proj.weight           [C, F]
//   model.norm.weight                               [C]
//   lm_head.weight                                  [V, C]   (absent when tied)
// RoPE is HF's half-split form: rotate (x[:D/2], x[D/2:]) pairs.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "model/model_config.h"

namespace seedforge {

// A projection y = x W^T (+ b). Abstract so that BitNet's BitLinear can be
// swapped in for the dense one without the attention/MLP code knowing.
class LinearLayerImpl : public torch::nn::Module {
 public:
  // x: [..., in] -> [..., out]
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  torch::Tensor weight;  // [out, in], the latent (full-precision) weight
  torch::Tensor bias;    // [out] or undefined
};
TORCH_MODULE(LinearLayer);

class DenseLinearImpl : public LinearLayerImpl {
 public:
  DenseLinearImpl(int64_t in_features, int64_t out_features, bool with_bias);
  torch::Tensor forward(const torch::Tensor& x) override;
};

// A DenseLinearImpl behind the LinearLayer holder.
LinearLayer make_dense_linear(int64_t in_features, int64_t out_features, bool with_bias);

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  // x: [..., C] -> [..., C]; computed in fp32 then cast back.
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // [C]
  double eps;
};
TORCH_MODULE(RMSNorm);

// Key/value cache for incremental decoding: per layer [B, Hkv, max_seq, D].
struct KVCache {
  std::vector<torch::Tensor> k, v;
  int64_t length = 0;  // positions filled
};

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const ModelConfig& config);
  // x: [B, T, C], cos/sin: [T, D] for positions start..start+T-1.
  // Without a cache: causal self-attention over the T positions.
  // With a cache (layer slot `layer`): appends k, v at cache->length and attends to all S.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        KVCache* cache, int64_t layer);
  LinearLayer q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  int64_t n_heads, n_kv_heads, head_dim;
};
TORCH_MODULE(Attention);

class MLPImpl : public torch::nn::Module {
 public:
  explicit MLPImpl(const ModelConfig& config);
  // x: [B, T, C] -> down(silu(gate(x)) * up(x)): [B, T, C]
  torch::Tensor forward(const torch::Tensor& x);
  LinearLayer gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(MLP);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        KVCache* cache, int64_t layer);
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  MLP mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

// The "model." part: embeddings, layers, final norm.
class LlamaModelImpl : public torch::nn::Module {
 public:
  explicit LlamaModelImpl(const ModelConfig& config);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(LlamaModel);

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const ModelConfig& config);

  // tokens: [B, T] int64 -> logits [B, T, V] (fp32), positions 0..T-1, causal.
  // Right padding is harmless: a position never sees later ones.
  torch::Tensor forward(const torch::Tensor& tokens);
  // Final hidden states [B, T, C] (after model.norm), for callers that want to
  // compute the head in chunks.
  torch::Tensor hidden_states(const torch::Tensor& tokens);
  // hidden [.., C] -> logits [.., V]
  torch::Tensor head(const torch::Tensor& hidden);
  // Decoder layer l alone: x [B, T, C] at positions 0..T-1 -> [B, T, C], the
  // same operations as hidden_states() applies to it. The layer must be on
  // x's device; the RoPE tables follow x, so a caller can move one layer at a
  // time to a GPU while the rest of the model stays on the host.
  torch::Tensor layer_forward(int64_t l, const torch::Tensor& x);

  // Incremental forward: tokens [B, T] at positions cache.length..+T-1, appends to
  // the cache, returns logits [B, T, V].
  torch::Tensor forward_cached(const torch::Tensor& tokens, KVCache& cache);
  KVCache make_cache(int64_t batch, int64_t max_len) const;

  // lm_head weight, or the embedding matrix when tied.
  torch::Tensor output_weight() const;

  const ModelConfig& config() const { return config_; }
  // Where the weights live (the model is moved as a whole, so one tensor tells).
  torch::Device device() const { return model->embed_tokens->weight.device(); }
  LlamaModel model{nullptr};
  LinearLayer lm_head{nullptr};  // "lm_head.weight" when untied; stays dense under BitNet

 private:
  // cos/sin tables [max_seq_len, D] (buffers, not parameters).
  torch::Tensor rope_cos_, rope_sin_;
  ModelConfig config_;
};
TORCH_MODULE(Transformer);

// Canonical state dict: HF name -> tensor, in a stable order.
using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

// Copies `tensors` into `model`'s parameters. Every parameter must be present
// with the same shape; extra names are errors (a tied checkpoint's
// lm_head.weight equal to the embeddings is accepted). `where` names the source.
void load_state_dict(Transformer& model, const StateDict& tensors, const std::string& where);
// For loading a large model at 4 bytes a parameter instead of 8: frees every
// parameter's storage (each keeps its shape, over one shared element) so that
// adopt_state_dict() can make the checkpoint's own tensors the parameters.
// Until then the model is not usable.
void release_parameter_storage(Transformer& model);
// load_state_dict()'s checks, but each tensor becomes its parameter (no copy
// when it already has the parameter's dtype and device and is contiguous);
// `tensors` is left empty.
void adopt_state_dict(Transformer& model, StateDict&& tensors, const std::string& where);
// The model's parameters as a StateDict (detached, same device/dtype).
StateDict model_state_dict(const Transformer& model);
// Builds a model from config + weights, fp32 on CPU.
Transformer build_model(const ModelConfig& config, const StateDict& tensors, const std::string& where);

// Names of the 7 projections per layer that BitNet converts, in order.
std::vector<std::string> projection_names(const ModelConfig& config);

// The narrowest floating type that holds every value of `t` (fp32) exactly:
// bf16, else fp16, else fp32. A checkpoint saved in 16 bits and read as fp32
// gets its 16-bit type back. A NaN never compares equal, so it stays fp32.
torch::ScalarType exact_narrow_type(const torch::Tensor& t);

// Stores each projection matrix of a dense model (projection_names) in its
// exact_narrow_type(): a model read from a bf16 checkpoint then holds them in
// 2 bytes a weight instead of 4. Its forwards do not change, bit for bit: a
// dense projection casts its weight to the input's dtype for each product
// (DenseLinearImpl::forward), and widening to fp32 is exact. Returns the
// bytes freed. Throws usage_error on a converted (BitLinear) model.
int64_t narrow_exact_projections(Transformer& model);

// The bytes an element of the projection matrices in `tensors` (fp32) needs
// to be held exactly: 2 when every one of them narrows to 16 bits, else 4.
int projection_element_bytes(const StateDict& tensors, const ModelConfig& config);

}  // namespace seedforge
