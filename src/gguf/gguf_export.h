// Writes an engine model (a .stage1.pt read by infer::load_model) as a GGUF
// file that llama.cpp loads as architecture "llama". Torch-free.
//
// What goes where (llama.cpp's names; GGUF shapes are [cols, rows]):
//   token_embd.weight            the embedding, decoded (SeedLM) to --float-type
//   blk.N.attn_norm / ffn_norm   F32, as stored
//   blk.N.attn_q/k/v/output, ffn_gate/up/down .weight (and attn_q/k/v .bias)
//   output_norm.weight           F32
//   output.weight                the head, only when untied (tied: llama.cpp
//                                uses token_embd)
// attn_q and attn_k rows (and their biases) are reordered from seedforge's
// half-split RoPE pairs (i, i + D/2) to llama.cpp's adjacent pairs (2i, 2i+1):
// GGUF row h*D + 2i + j holds seedforge row h*D + j*D/2 + i.
//
// Ternary projections go to the ternary type (TQ2_0 or TQ1_0) exactly (the
// file's trits, its scales as fp16) when each 256-value block of a row has
// one scale: the row length a multiple of 256 and the scales per tensor, per
// row or per run of a multiple of 256 columns. Otherwise, and with ternary
// type F16, they go to F16 (trit x scale; exact when the scale is an fp16
// value). Every tensor whose values change is reported with its relative
// error ||new - old|| / ||old||; `strict` refuses to write such a file.
//
// Metadata: the llama.* hyper-parameters llama.cpp reads, the tokenizer
// (gguf_vocab.h: llama2c and sentencepiece as tokenizer.ggml.model "llama",
// byte-level BPE as "gpt2" with merges and a pre-tokenizer name), and seedforge.* keys that let
// seedforge's own reader rebuild the engine model (gguf_model.h): the
// activation quantization, the ternary scale group, the embedded tokenizer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf_blocks.h"

namespace seedforge::infer {
class Model;
}

namespace seedforge::gguf {

struct ExportOptions {
  GgmlType ternary = GgmlType::kTQ2_0;     // kTQ2_0, kTQ1_0 or kF16
  GgmlType float_type = GgmlType::kF16;    // embedding, head, float-coded projections: kF16, kQ8_0, kF32
  bool strict = false;                     // refuse when any value changes
  std::string name;                        // general.name ("" = none)
};

struct ExportedTensor {
  std::string name;        // GGUF name
  std::string source;      // the .stage1.pt tensor it came from
  GgmlType type = GgmlType::kF32;
  std::vector<int64_t> ne;
  int64_t bytes = 0;
  double relative_error = 0.0;  // 0 = written exactly
  std::string note;             // why not the ternary type, when it is not
};

struct ExportReport {
  std::vector<ExportedTensor> tensors;
  uint64_t file_bytes = 0;
  int64_t changed() const;  // tensors whose values changed
};

// Parses "tq2_0" / "tq1_0" / "f16" (ternary) and "f16" / "q8_0" / "f32"
// (float); usage_error naming the option otherwise.
GgmlType parse_ternary_type(const std::string& s);
GgmlType parse_float_type(const std::string& s);

// Writes `output` (atomically). Throws input_error for a model llama.cpp's
// llama graph cannot run (bitnet input_norm), usage_error in strict mode when
// a tensor would change (naming each with its relative error).
ExportReport export_gguf(const infer::Model& model, const std::string& output, const ExportOptions& options);

// The report as text lines (one a tensor, then a summary).
std::string format_export_report(const ExportReport& report);

}  // namespace seedforge::gguf
