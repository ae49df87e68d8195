// A GGUF file (as export_gguf writes it: architecture "llama", projections
// TQ2_0 / TQ1_0 / F16 / F32 / Q8_0) read into the inference engine's model, so
// that `stage1 eval`, `generate` and `inspect` take .gguf files and the
// exporter's output is checked on seedforge's side too. Torch-free.
//
// What is rebuilt: the config from the llama.* keys; the tokenizer and the
// activation quantization from the seedforge.* keys (a GGUF without them is
// refused: its tokenizer would have to be rebuilt from tokenizer.ggml.*, which
// this reader does not do); attn_q/attn_k rows back in seedforge's half-split
// RoPE order. Ternary blocks become the engine's packed trits with their fp16
// scales, one a row when a row's blocks share one (as the .stage1.pt had it),
// else one a block. F16/F32 projections whose every run of
// seedforge.scale_group columns (a row when 0) holds one magnitude are read
// back as trits x that scale, so a model exported exactly evaluates exactly as
// its .stage1.pt; others stay dense (fp32). Errors are input_error naming the
// file and the tensor or key.
#pragma once

#include <memory>
#include <string>

namespace seedforge::infer {
class Model;
}

namespace seedforge::gguf {

// True when the file starts with the GGUF magic.
bool is_gguf_file(const std::string& path);

std::shared_ptr<const infer::Model> load_gguf_model(const std::string& path);

}  // namespace seedforge::gguf
