// The .stage1.pt file: a compressed model that torch.load(path,
// weights_only=True) opens in PyTorch 1.13 and 2.x, specified field by field
// in docs/FORMAT.md ("Stage-1 file"). Written with io/pt_file's torch.save-
// compatible writer. Python scalars other than ints and strings are avoided
// (PyTorch 1.13's weights_only loader refuses floats): floats are 1-element
// float64 tensors, and the metrics are a JSON string.
//
// Top-level dict:
//   format          "seedforge.stage1"
//   format_version  1, or 2 when a ternary tensor uses fp16 or column-group scales,
//                   or 3 when a tensor is "levels"
//   model           {architecture, config{...}, tokenizer_kind, tokenizer (uint8 [n])}
//   tensors         {HF name -> {codec, shape, ...codec fields}}
//                     codec "seedlm":  scale fp32 [1], bits uint8 [n]
//                     codec "ternary": scale fp32 or fp16 [1], [rows] or [rows * groups],
//                                      packed uint8 [n] (5 trits a byte),
//                                      scale_group int (only with column groups: columns per group)
//                     codec "levels":  as "ternary" with values in -max_level..max_level,
//                                      max_level int (1..7), packed uint8 (codec/packed_levels.h)
//                     codec "int8":    scale fp32 [rows], data int8 [rows, cols]
//                     codec "raw":     data (fp16 or fp32, the tensor's shape)
//   codecs          {seedlm: {K, taps, C, P, Q, E}}
//   bitnet          {activation_bits, per_row_scale, scale_group, input_norm, ...}
//   training        {steps, tokens, seconds, ...}
//   metrics         JSON text of the run report
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "codec/seedlm_params.h"
#include "model/model_config.h"
#include "model/transformer.h"

namespace seedforge {

constexpr const char* kStage1FormatName = "seedforge.stage1";
// Version 1 files are still written when they need nothing newer, so that
// older readers open them; this reader reads both.
constexpr int64_t kStage1FormatVersion = 3;

// The reader refuses shapes with more values than this (no real tensor comes
// near it), so that sizes derived from a shape never overflow.
constexpr int64_t kStage1MaxTensorElements = int64_t(1) << 40;

// One stored tensor. `payload` is bits (seedlm), packed (ternary) or data (int8/raw).
struct Stage1Tensor {
  std::string name;
  std::string codec;            // "seedlm", "ternary", "levels", "int8", "raw"
  std::vector<int64_t> shape;
  torch::Tensor scale;          // fp32 (ternary: or fp16); undefined for raw
  torch::Tensor payload;
  int64_t scale_group = 0;      // ternary, levels: columns per scale within a row; 0 = a scale per row or tensor
  int max_level = 0;            // levels: values in -max_level..max_level

  int64_t numel() const;
  int64_t payload_bytes() const;  // bytes of payload + scale
};

// BitNet settings the decoder needs to run the model as it was trained.
struct Stage1BitNet {
  bool enabled = false;        // projections are ternary BitLinear layers
  int activation_bits = 8;     // 0 = full-precision activations
  bool per_row_scale = false;
  int64_t scale_group = 0;     // columns per scale within a row; 0 = one per row
  bool input_norm = false;
};

struct Stage1File {
  int64_t format_version = 0;   // as read; the writer picks the lowest that holds the file
  ModelConfig config;
  std::string tokenizer_kind;   // Tokenizer::kind()
  std::string tokenizer_bytes;  // the tokenizer file's bytes
  std::vector<Stage1Tensor> tensors;
  SeedLMParams seedlm;
  Stage1BitNet bitnet;
  std::map<std::string, int64_t> training;  // integer facts: steps, tokens, ...
  std::string metrics_json = "{}";
};

// A storage record holds at most this many bytes: a tensor that would take a
// record past it starts the next one (a larger tensor gets one of its own).
// A reader inflates a deflated record whole, so the cap bounds what a load
// holds beside the model it builds: the inference engine frees each record
// once it has read every tensor in it (a 1.1B-shaped levels file had one
// 380 MB record). Deflate gains nothing from larger records (its window is 32 KB).
constexpr int64_t kStage1MaxRecordBytes = int64_t(16) << 20;

void write_stage1_file(const std::string& path, const Stage1File& file,
                       int64_t max_record_bytes = kStage1MaxRecordBytes);
// Validates every field (format name and version, codec fields, sizes) and
// throws input_error naming the path and the tensor/field.
Stage1File read_stage1_file(const std::string& path);
// True when `path` is a zip whose pickle is a Stage-1 dict (cheap check of the
// format string; used by load_checkpoint's dispatch).
bool is_stage1_file(const std::string& path);

// Decodes one tensor to fp32 with its shape.
torch::Tensor decode_stage1_tensor(const Stage1Tensor& tensor, const SeedLMParams& seedlm, const std::string& where);
// All tensors decoded: a plain state dict in canonical names.
StateDict decode_stage1(const Stage1File& file, const std::string& where);

}  // namespace seedforge
