// Model checkpoints saved with torch.save(state_dict): a dict of tensors in
// Hugging Face Llama naming, plain or wrapped, to and from a Checkpoint.
//
// Accepted shapes of the saved object:
//   {name: tensor, ...}                              a plain state dict
//   {"state_dict" | "model" | "module": {name: tensor, ...}, ...}   a training checkpoint
// Names may carry a wrapper prefix ("module." from DataParallel/DDP, "model."
// from Lightning-style wrappers, "_orig_mod." from torch.compile), stripped
// when the remainder has the canonical names (model.embed_tokens.weight, ...).
// Rotary inv_freq buffers are dropped (and used, see below). Float weights
// (fp32/fp16/bf16/fp64) become fp32; any other dtype is an input_error.
//
// ModelConfig: from a Hugging Face config.json beside the file when present;
// otherwise inferred from shapes. Shapes give dim and vocab (embeddings),
// hidden_dim (gate_proj), n_layers, tied embeddings (no lm_head.weight) and
// attention_bias (q_proj.bias), but not the head count: that needs the head
// dimension, taken from a `rotary_emb.inv_freq` buffer (D/2 entries, which
// also give rope_theta) when the checkpoint has one; without it the loader
// asks for a config.json. Inferred configs use norm_eps 1e-5 and
// max_seq_len 2048 (shapes say nothing about either).
#pragma once

#include <string>

#include "io/checkpoint.h"
#include "io/pt_file.h"

namespace seedforge {

Checkpoint load_pt_checkpoint(const std::string& path);

// The part shared with single-file safetensors checkpoints: canonical names
// and fp32 (canonical_state_dict), config from config.json beside `path` or
// inferred, tokenizer.model / tokenizer.json beside `path` as tokenizer_path.
Checkpoint checkpoint_from_state_dict(const std::string& path, const std::string& format, const StateDict& raw);

// torch.save-compatible plain dict name -> tensor (dtypes kept), which
// torch.load(path, weights_only=True) opens. Atomic.
void save_pt_state_dict(const std::string& path, const StateDict& tensors);

// The tensor dict inside a loaded .pt object (see above), tensors as stored.
// Throws input_error naming `where` and the top-level keys when there is none.
StateDict find_state_dict(const PtValue& root, const std::string& where);

// Canonical names and fp32 (see above). When `inv_freq` is given it receives
// the first rotary inv_freq buffer found (undefined if none).
StateDict canonical_state_dict(const StateDict& raw, const std::string& where, torch::Tensor* inv_freq = nullptr);

// The config implied by canonical tensor shapes (+ inv_freq, possibly undefined).
ModelConfig infer_model_config(const StateDict& canonical, const torch::Tensor& inv_freq, const std::string& where);

// Throws input_error when the embeddings disagree with config (vocab, dim):
// catches a config.json that belongs to another model early, naming both.
void check_config_matches(const ModelConfig& config, const StateDict& canonical, const std::string& config_where,
                          const std::string& weights_where);

}  // namespace seedforge
