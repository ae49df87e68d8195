// Hugging Face config.json <-> ModelConfig, for LlamaForCausalLM,
// MistralForCausalLM and Qwen2ForCausalLM. Torch-free.
//
// Fields read (HF name -> ModelConfig):
//   architectures[0] (or model_type)  -> architecture "llama" | "mistral" | "qwen2"
//   hidden_size -> dim, intermediate_size -> hidden_dim, num_hidden_layers -> n_layers,
//   num_attention_heads -> n_heads, vocab_size -> vocab_size          (required)
//   num_key_value_heads -> n_kv_heads          (default n_heads)
//   max_position_embeddings -> max_seq_len     (default 2048 llama, 32768 mistral/qwen2)
//   rope_theta (default 10000), rms_norm_eps -> norm_eps (default 1e-6),
//   tie_word_embeddings (default false), attention_bias (llama: default false;
//   qwen2: always true), bos_token_id / eos_token_id (first of a list; absent
//   or null -> 1/2 for llama/mistral, -1 for qwen2)
// Refused with an input_error naming the field, because the model would
// compute something else: rope_scaling != null, hidden_act != "silu",
// mlp_bias == true, quantization_config present, head_dim != hidden_size / num_attention_heads,
// qwen2 use_sliding_window == true. (Mistral's sliding_window is ignored: it
// changes nothing for sequences no longer than the window.)
#pragma once

#include <string>

#include "model/model_config.h"

namespace seedforge {

// Reads and validates `config_path`; errors name the path and the field.
ModelConfig read_hf_config(const std::string& config_path);
// The same from JSON text; `where` names the source in errors.
ModelConfig parse_hf_config(const std::string& json_text, const std::string& where);

// config.json text for `config`: LlamaForCausalLM, or Qwen2ForCausalLM when
// attention_bias is set. read_hf_config(hf_config_json(c)) gives c back
// (architecture "mistral" comes back as "llama": same computation).
std::string hf_config_json(const ModelConfig& config);

}  // namespace seedforge
