// The encoding policy of Stage 1: which codec stores which tensor, and the
// encoders themselves (over the torch-free codecs of src/codec).
//
//   BitLinear weights (q,k,v,o,gate,up,down)  "ternary" packed trits (default) or "seedlm";
//                                              "levels" for those bitnet.projection_levels widens
//   other 2-D float tensors (embeddings, head) "seedlm" (default), "raw" fp16, or "int8" per row
//   1-D tensors (norm weights, biases)        "raw" fp16 (default) or fp32
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "codec/seedlm_codec.h"
#include "codec/seedlm_params.h"
#include "config/stage1_config.h"
#include "pipeline/stage1_file.h"
#include "train/bit_linear_options.h"

namespace seedforge {

SeedLMParams seedlm_params_from_config(const SeedlmConfig& config);

// Progress of SeedLM searches: (blocks done, blocks total) of the current tensor.
using EncodeProgress = std::function<void(int64_t, int64_t)>;

// w: any shape, fp32 -> SeedLM entry (scale [1], bits). `search` replaces the
// block search (sharded_seedlm.h); empty = all blocks here.
Stage1Tensor encode_seedlm_tensor(const std::string& name, const torch::Tensor& w, const SeedLMParams& params,
                                  const EncodeProgress& progress = nullptr, const SeedLMBlockSearch& search = nullptr);
// trits [O, I] int8 in {-1,0,1}, scale fp32 [] (per tensor), [O] (per row) or
// [O, G] (per row and run of options.scale_group columns), as ternary_weights()
// gives them -> ternary entry (5 trits a byte; with options.max_level > 1 a
// "levels" entry, codec/packed_levels.h; scales in fp16 with
// options.fp16_scales, where they must already be fp16 values: no rounding here).
// Throws usage_error when the scale does not fit the options.
Stage1Tensor encode_ternary_tensor(const std::string& name, const torch::Tensor& trits, const torch::Tensor& scale,
                                   const BitNetOptions& options);
// w [O, I] -> int8 per output row, scale = max|row| / 127.
Stage1Tensor encode_int8_tensor(const std::string& name, const torch::Tensor& w);
// w any shape -> raw fp16 or fp32.
Stage1Tensor encode_raw_tensor(const std::string& name, const torch::Tensor& w, bool fp16);

// A non-ternary float tensor under the configured policy (2-D: encoding.float; 1-D: encoding.vector).
Stage1Tensor encode_float_tensor(const std::string& name, const torch::Tensor& w, const Stage1Config& config,
                                 const SeedLMParams& params, const EncodeProgress& progress = nullptr,
                                 const SeedLMBlockSearch& search = nullptr);

// A projection weight's max level under bitnet.projection_levels (1 = ternary).
int planned_max_level(const std::string& name, const Stage1Config& config);
// The codec name the policy gives a tensor, without encoding it (for --dry-run).
std::string planned_codec(const std::string& name, const std::vector<int64_t>& shape, bool is_projection,
                          const Stage1Config& config);
// Scales a ternary [rows, cols] matrix stores under these options.
int64_t ternary_scale_count(int64_t rows, int64_t cols, const BitNetOptions& options);
// Bytes of payload and scales the codec will store for a tensor of this shape
// (exact); `fp16` is encoding.vector's choice for raw vectors.
int64_t planned_payload_bytes(const std::string& codec, const std::vector<int64_t>& shape, const BitNetOptions& bitnet,
                              bool fp16, const SeedLMParams& params);

// True for the weight of one of a layer's seven projections (what BitNet
// makes ternary), e.g. "model.layers.3.mlp.up_proj.weight".
bool is_projection_weight(const std::string& name);

// ||a - b|| / ||a|| (0 when both are zero).
double relative_error(const torch::Tensor& reference, const torch::Tensor& approximation);

}  // namespace seedforge
