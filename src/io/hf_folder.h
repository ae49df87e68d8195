// Hugging Face model folders (LlamaForCausalLM, MistralForCausalLM,
// Qwen2ForCausalLM), read and written.
//
// A folder holds config.json (see io/hf_config.h) and the weights, looked up
// in this order:
//   model.safetensors | model.safetensors.index.json (+ shards) |
//   pytorch_model.bin | pytorch_model.bin.index.json (+ shards)
// plus, optionally, tokenizer.json / tokenizer.model.
#pragma once

#include <string>

#include "io/checkpoint.h"

namespace seedforge {

// Weights in canonical names, fp32. tokenizer_path is the folder when it
// holds tokenizer.json or tokenizer.model. Errors name the folder/file/field.
Checkpoint load_hf_folder(const std::string& dir);

// config.json and the tokenizer fields, no tensors: the safetensors headers
// (never their data) are checked to hold every tensor the config implies,
// in its shape. For plans of models of any size.
Checkpoint read_hf_folder_header(const std::string& dir);

// Writes config.json (hf_config_json) and model.safetensors (tensors as
// given, metadata format=pt). A new folder is assembled under a temporary
// name and renamed into place; into an existing folder (which may hold a
// tokenizer) each file is written atomically, other files are left alone.
void save_hf_folder(const std::string& dir, const ModelConfig& config, const StateDict& tensors);

}  // namespace seedforge
