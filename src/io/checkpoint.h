// Checkpoint: a model's config and weights in canonical form, whatever file
// they came from, and load_checkpoint(), which detects the format by content.
#pragma once

#include <string>

#include "model/model_config.h"
#include "model/transformer.h"

namespace seedforge {

struct Checkpoint {
  ModelConfig config;
  StateDict tensors;         // canonical HF names, fp32, CPU, contiguous
  std::string format;        // "llama2c", "pt", "safetensors", "hf", "stage1"
  std::string path;          // what was opened
  std::string tokenizer_path;   // a tokenizer file found beside the input, or ""
  std::string tokenizer_kind;   // set when the tokenizer is embedded (stage1 files)
  std::string tokenizer_bytes;  // its raw bytes, when embedded
  // Bytes an element of the projection matrices needs to be held exactly
  // (projection_element_bytes): 2 when read_checkpoint_header() saw them
  // stored in 16 bits (BF16/F16 safetensors) or holding only 16-bit values
  // (a state dict, read whole), else 4. The memory plan's original.
  int projection_bytes = 4;
};

// The format of `path` judged from its content (zip magic, safetensors header,
// llama2.c header sanity, a folder with config.json), not from its extension.
// Returns "llama2c", "pt", "safetensors", "hf", "stage1" (a .pt zip whose
// top-level dict has format == "seedforge.stage1" is detected by the loader),
// or throws input_error saying what the file looks like.
std::string detect_checkpoint_format(const std::string& path);

// Loads any supported checkpoint. Throws input_error naming the path.
Checkpoint load_checkpoint(const std::string& path);

// What a plan needs without the weights: the config and tokenizer fields,
// `tensors` empty, from headers alone where the format has them (a llama2.c
// header; a Hugging Face folder's config.json, checked against its
// safetensors headers). A state dict (.pt/.bin, a lone .safetensors) holds
// its config only in its tensors' shapes: it is loaded whole, `tensors` set.
Checkpoint read_checkpoint_header(const std::string& path);
// True when read_checkpoint_header(path) reads no weights (llama2.c, HF folder).
bool checkpoint_config_in_header(const std::string& path);

// Finds a tokenizer for a checkpoint when the user gave none: the explicit
// path if non-empty, else the checkpoint's own (embedded or beside it), else
// throws usage_error asking for --tokenizer.
std::string resolve_tokenizer_path(const Checkpoint& checkpoint, const std::string& explicit_path);

}  // namespace seedforge
