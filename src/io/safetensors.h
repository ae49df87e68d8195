// safetensors files (huggingface/safetensors), read through a memory mapping
// so that a multi-GB file is never copied whole: each tensor is copied (and
// converted, when asked) straight from the mapping into its own tensor.
//
// Layout:
//   uint64 N (little-endian)            header length, N <= file size - 8, N <= 100 MB
//   N bytes UTF-8 JSON object           (may end in spaces, padding to 8 bytes)
//     "<tensor name>": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
//     "__metadata__": {"<key>": "<string>", ...}     (optional)
//   data                                 offsets are relative to the byte after the header
// Checks made before any tensor is touched: N in range; the header is valid
// UTF-8 and valid JSON without duplicate names; every entry has a known
// dtype (F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL), non-negative dims, 0 <=
// begin <= end <= data size, end - begin == product(shape) * dtype size
// (overflow-checked), and no two entries' byte ranges overlap.
// Errors name the file, the tensor and expected vs got.
//
// Sharded checkpoints: model.safetensors.index.json holds
//   {"metadata": {...}, "weight_map": {"<tensor name>": "<shard file name>", ...}}
// with shard files in the same folder.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/checkpoint.h"
#include "model/transformer.h"

namespace seedforge {

class MappedFile;

struct SafetensorsEntry {
  std::string name;
  std::string dtype;           // "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range relative to the data section
};

class SafetensorsReader {
 public:
  // Maps the file and validates the whole header (see above).
  explicit SafetensorsReader(const std::string& path);
  ~SafetensorsReader();

  const std::string& path() const { return path_; }
  // In header order.
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const SafetensorsEntry* find(const std::string& name) const;

  // An owned, contiguous CPU copy of the tensor in its stored dtype, or
  // converted to `dtype` on the way out of the mapping.
  torch::Tensor tensor(const SafetensorsEntry& entry) const;
  torch::Tensor tensor(const SafetensorsEntry& entry, torch::ScalarType dtype) const;

 private:
  std::string path_;
  std::unique_ptr<MappedFile> file_;
  uint64_t data_start_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a file in header order; stored dtypes, or `dtype` when given.
StateDict read_safetensors(const std::string& path);
StateDict read_safetensors(const std::string& path, torch::ScalarType dtype);

// Writes tensors (any supported dtype; moved to CPU, made contiguous) in the
// given order, data contiguous from offset 0, header padded with spaces to a
// multiple of 8 bytes. Atomic (temporary name + rename). Names must be unique
// and not "__metadata__".
void write_safetensors(const std::string& path, const StateDict& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Loads a sharded checkpoint from its model.safetensors.index.json: every
// tensor in weight_map, from its shard, in weight_map order, converted to
// `dtype`. Errors name the index, the shard and the tensor.
StateDict read_safetensors_sharded(const std::string& index_path, torch::ScalarType dtype);
// The entries (names, dtypes, shapes) of every shard, in the index's order:
// headers only, no tensor data read.
std::vector<SafetensorsEntry> read_safetensors_sharded_entries(const std::string& index_path);

// Model weights as fp32: refuses non-float tensors (naming them) before converting.
StateDict read_safetensors_weights_fp32(const std::string& path);

// A single-file checkpoint: canonical names, fp32; the config from a
// config.json beside the file, else inferred from shapes (io/pt_state_dict.h).
Checkpoint load_safetensors_checkpoint(const std::string& path);

}  // namespace seedforge
