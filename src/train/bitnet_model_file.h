// The fine-tuned BitNet model on disk: latent weights, their ternary form and
// the options needed to run it again. A libtorch serialize archive (TorchScript
// zip, written with torch::serialize::OutputArchive) with the keys
//
//   format          str   "seedforge.bitnet.model"
//   version         int   1
//   config          str   JSON of ModelConfig (dim, hidden_dim, n_layers, ...)
//   bitnet          str   JSON {"activation_bits", "per_row_scale", "scale_group", "fp16_scales",
//                               "input_norm", "ternary_eps"} (the two scale keys optional on reading)
//   train_options   str   train_options_json() of the run that produced it ("" if none)
//   tokenizer_kind  str   Tokenizer::kind(), "" when no tokenizer is stored
//   tokenizer_bytes Tensor uint8, Tokenizer::to_bytes()
//   latent_names    List[str]     every parameter (canonical HF names)
//   latent_values   List[Tensor]  fp32 latent values, same order
//   ternary_names   List[str]     the projection weights ("...q_proj.weight")
//   ternary_trits   List[Tensor]  int8 [O, I] in {-1, 0, 1}
//   ternary_scales  List[Tensor]  fp32 [], [O] or [O, groups] (ternary_weights())
//
// The reader rebuilds the BitNet model from the latent weights and checks that
// they give back exactly the stored trits and scales.
#pragma once

#include <string>

#include "model/transformer.h"
#include "train/bit_linear.h"

namespace seedforge {

inline constexpr const char* kBitNetModelFormat = "seedforge.bitnet.model";
inline constexpr int64_t kBitNetModelVersion = 1;

struct BitNetModel {
  Transformer model{nullptr};  // converted to BitNet, lambda = 1, eval mode, CPU
  BitNetOptions options;
  std::string train_options_json;
  std::string tokenizer_kind;   // "" when none stored
  std::string tokenizer_bytes;
};

// `model` must be converted (convert_to_bitnet). Written atomically.
void save_bitnet_model(const std::string& path, const Transformer& model, const std::string& train_options_json,
                       const std::string& tokenizer_kind, const std::string& tokenizer_bytes);
BitNetModel load_bitnet_model(const std::string& path);

}  // namespace seedforge
