// Size metrics of a model file: bytes on disk, parameters, bits per weight
// overall and per tensor, compression ratio against an original.
//
// bits_per_weight (overall) = file bytes * 8 / parameters: everything in the
// file counts (headers, tokenizer, llama2.c's legacy RoPE tables), so it is
// what a user pays on disk for each weight. Parameters are the model's own
// (a tied classifier counted once). Per tensor, bytes and codec are filled
// where the file format states them: llama2.c (every tensor fp32) and
// safetensors (the stored dtype of each entry, single file or the shards of
// a Hugging Face folder); elsewhere (PyTorch .pt, for now .stage1.pt) bytes
// is -1 and codec "" until the format's reader exposes them.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/checkpoint.h"

namespace seedforge {

struct TensorSize {
  std::string name;     // canonical (HF) name
  int64_t params = 0;
  int64_t bytes = -1;   // stored bytes, -1 = the format does not say
  std::string codec;    // "fp32", "bf16", ... ; "" = unknown
  double bits_per_weight() const { return bytes >= 0 && params > 0 ? double(bytes) * 8.0 / double(params) : -1.0; }
};

struct ModelSize {
  std::string path;
  std::string format;          // Checkpoint::format
  int64_t file_bytes = 0;      // the file, or all regular files of a model folder
  int64_t parameters = 0;
  double bits_per_weight = 0;  // file_bytes * 8 / parameters
  std::vector<TensorSize> tensors;
  // file_bytes minus the tensors' bytes when every tensor's bytes are known, else -1.
  int64_t overhead_bytes = -1;
};

ModelSize measure_model_size(const Checkpoint& checkpoint);
// The same from (name, parameter count) pairs, for a model whose tensors are
// not at hand as a Checkpoint (the inference engine's).
ModelSize measure_model_size(const std::string& path, const std::string& format,
                             const std::vector<std::pair<std::string, int64_t>>& parameters);

// original.file_bytes / compressed.file_bytes (> 1 when smaller).
double compression_ratio(const ModelSize& original, const ModelSize& compressed);

}  // namespace seedforge
