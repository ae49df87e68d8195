// The inference engine's model: a .stage1.pt file read without libtorch into
// structures the kernels run from as stored, and its loader.
//
// What stays compressed (docs/FORMAT.md, "Stage-1 file"):
//   ternary projections  the file's base-3 bytes (1.6 bits a weight) repacked
//                        once into the kernels' 2-bit layout (infer/kernels.h)
//                        with the file's scales as stored (fp32 or fp16, per
//                        tensor, row or run of columns); never a float copy
//   SeedLM embedding     (untied) kept as its bitstream; the row of a token is
//                        decoded when the token is looked up (the same bits as
//                        a full decode, codec/seedlm_codec.h)
// What is decoded once at load (to fp32, or fp16 with Options::fp16_dense):
//   the output head (and a tied embedding, which is the head), projections
//   stored with a float codec (seedlm, int8, raw), norm weights and biases (fp32).
//
// The loader checks every field as read_stage1_file does (format name and
// version, config, codec fields, payload sizes before any allocation of the
// shape's size, valid base-3 bytes, SeedLM streams, finite decoded values)
// and that the tensors are exactly the model's parameters (names and shapes,
// as the libtorch model's load_state_dict); errors are input_error naming the
// path and the tensor or field.
//
// Dimensions: C dim, F hidden_dim, H heads, Hkv key/value heads, D head dim,
// V vocabulary, S max_seq_len.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "codec/seedlm_params.h"
#include "model/model_config.h"
#include "tokenizer/tokenizer.h"

namespace seedforge::infer {

// How the projections' inputs are quantized (the file's "bitnet" dict): per
// token, absmax, `bits` bits (0 = full precision), after a parameter-free
// RMSNorm when input_norm. BitLinear's formulas: train/bit_linear.h.
struct ActivationQuant {
  int bits = 0;
  bool input_norm = false;
};

// A ternary matrix, or a few-level integer one ("levels", values -L..L),
// in the kernels' layout (infer/kernels.h): I2-32 for L = 1, I4-32 for 2..7.
struct TernaryMatrix {
  int64_t rows = 0, cols = 0;
  int64_t chunks = 0;              // ceil(cols / 32)
  int max_level = 1;               // L: 1 for trits
  std::vector<uint8_t> codes;      // rows * chunks * chunk_bytes() bytes
  bool fp16_scales = false;
  std::vector<float> scales;       // fp32 scales, or
  std::vector<uint16_t> scales16;  // fp16 scales (bits), as the file stores them
  int64_t scale_stride = 0;        // scales per row; 0 = one scale for the tensor
  int64_t groups = 1;              // scale runs per row
  int64_t group_cols = 0;          // columns per run when groups > 1
  int64_t bytes() const;
  int64_t chunk_bytes() const;      // 8 (I2-32) or 16 (I4-32)
  // The integer value (-max_level..max_level) and the fp32 scale of element
  // (r, c): the one reading of the layout, for everything outside the kernels.
  int value(int64_t r, int64_t c) const;
  float scale(int64_t r, int64_t c) const;
  void row(int64_t r, float* out) const;  // cols floats: value * scale in fp32
};

// A float matrix [rows, cols], fp32 or fp16 (bits), row-major.
struct DenseMatrix {
  int64_t rows = 0, cols = 0;
  bool fp16 = false;
  std::vector<float> w;
  std::vector<uint16_t> w16;
  int64_t bytes() const;
  void row(int64_t r, float* out) const;  // cols floats
};

// One projection y = x W^T (+ b): packed integer weights (trits, or levels
// with int8 activations: `ternary` true, in t), or decoded to a dense matrix.
struct Projection {
  bool ternary = false;  // t holds it (t.max_level > 1: levels), else d
  TernaryMatrix t;
  DenseMatrix d;
  std::vector<float> bias;  // [rows] or empty
  int64_t rows() const { return ternary ? t.rows : d.rows; }
  int64_t cols() const { return ternary ? t.cols : d.cols; }
  int64_t bytes() const;
};

struct Layer {
  std::vector<float> attn_norm, ffn_norm;  // [C]
  Projection q, k, v, o;                   // [H*D, C], [Hkv*D, C] x2, [C, H*D]
  Projection gate, up, down;               // [F, C] x2, [C, F]
};

// A SeedLM matrix kept as its stream; rows decode on demand.
struct SeedLMMatrix {
  int64_t rows = 0, cols = 0;
  float scale = 1.0f;
  SeedLMParams params;
  std::vector<uint8_t> bits;
  void row(int64_t r, float* out) const;  // cols floats
};

// What the file stores for one tensor (for size reports).
struct TensorInfo {
  std::string name;
  std::string codec;
  std::vector<int64_t> shape;
  int64_t params = 0;
  int64_t stored_bytes = 0;  // payload + scales in the file
};

struct Options {
  // Decoded float matrices (head, tied embedding, float-coded projections) as
  // fp16 instead of fp32: half their memory, fp16 rounding of their values.
  bool fp16_dense = false;
  // Levels projections decoded to dense matrices (fp32, or fp16 with
  // fp16_dense) instead of kept packed for the I4-32 kernel: the path they
  // took before that kernel, for benchmarks and comparisons.
  bool dense_levels = false;
};

class Model {
 public:
  std::string path;
  int64_t format_version = 0;
  ModelConfig config;
  ActivationQuant activations;  // of the seven projections
  std::string tokenizer_kind;   // Tokenizer::kind()
  std::string tokenizer_bytes;
  std::vector<Layer> layers;
  std::vector<float> final_norm;  // [C]
  DenseMatrix head;               // [V, C]: lm_head, or the embedding when tied
  DenseMatrix embedding;          // [V, C] when untied and not SeedLM
  SeedLMMatrix embedding_seedlm;  // [V, C] when untied and SeedLM
  bool embedding_is_seedlm = false;
  std::vector<float> rope_cos, rope_sin;  // [S, D/2] (fp32 of the double values, as the libtorch model)
  std::vector<TensorInfo> tensors;        // in file order

  // x: C floats, the embedding of `token` (0 <= token < V).
  void embed(int32_t token, float* x) const;
  // Bytes of weights in memory (codes, scales, decoded matrices, vectors).
  int64_t weight_bytes() const;
  int64_t parameters() const;
  // (name, values) of every parameter in the libtorch model's named_parameters()
  // order (a tied head counted once, as there).
  std::vector<std::pair<std::string, int64_t>> parameter_counts() const;
  // The embedded tokenizer, checked against the vocabulary.
  std::unique_ptr<Tokenizer> make_tokenizer() const;
};

// Packs trits [rows][cols] (-1, 0, 1), or with max_level L > 1 integer
// values -L..L (L at most kMaxKernelLevel), into the kernels' layout with
// their scales: `scale_count` fp32 values (or fp16 bits with fp16), one for
// the tensor, one a row, or with scale_group G > 0 one a row and run of G
// columns (rows * ceil(cols / G), row-major). Throws usage_error for a value
// out of range or a scale count that fits none of these.
TernaryMatrix pack_ternary(const int8_t* trits, int64_t rows, int64_t cols, int64_t scale_group, const void* scales,
                           int64_t scale_count, bool fp16, int max_level = 1);

// Reads and checks a .stage1.pt file (see the header comment).
std::shared_ptr<const Model> load_model(const std::string& path, const Options& options = {});

// The tokenizer's ids must index the embedding table: at most
// config.vocab_size tokens (fewer: a vocabulary padded past the tokenizer).
void check_vocabulary(const ModelConfig& config, const Tokenizer& tokenizer, const std::string& tokenizer_where,
                      const std::string& model_where);

}  // namespace seedforge::infer
