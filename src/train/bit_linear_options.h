// BitNetOptions and the constants that define BitNet b1.58 quantization in
// seedforge (formulas in bit_linear.h). Torch-free.
#pragma once

#include <cstdint>
#include <string>

namespace seedforge {

// Added to gamma before dividing: keeps an all-zero tensor (or row) from
// dividing by zero; such a tensor quantizes to all-zero trits. Part of the
// stored format's definition: the codec reproduces trits with the same value:
//   trits = RoundClip(W / (gamma + kTernaryEps), -1, 1), gamma = mean |W| in fp32.
inline constexpr float kTernaryEps = 1e-5f;
// Floor of a token's max |x|: an all-zero token quantizes to zeros, not NaN.
inline constexpr float kActivationEps = 1e-5f;
// The most levels a projection may keep: -7..7, fifteen (4 bits packed,
// codec/packed_levels.h's kMaxPackedLevel).
inline constexpr int kMaxWeightLevel = 7;
// Epsilon of the optional parameter-free input RMSNorm.
inline constexpr float kInputNormEps = 1e-5f;

// How a BitLinear quantizes (the layer-level part of the "bitnet" config section).
struct BitNetOptions {
  int activation_bits = 8;     // 0 = activations stay full precision; else 2..16
  bool per_row_scale = false;  // gamma per output row instead of per tensor
  // With per_row_scale: gamma per row and per run of this many input columns
  // (the last run shorter), [O, ceil(I / scale_group)]; 0 = one per row.
  int64_t scale_group = 0;
  // gamma rounded to fp16, the precision the file stores it in, so that the
  // trained and the stored model are the same.
  bool fp16_scales = false;
  bool input_norm = false;     // parameter-free RMSNorm before activation quantization
  // Weights take the integer levels -max_level..max_level: 1 is BitNet
  // b1.58's ternary (gamma = absmean); 2..7 keep 5..15 levels for the
  // projections that bitnet.projection_levels names (gamma = absmax / max_level,
  // the usual scale of a k-bit symmetric quantizer: with absmean the largest
  // weights would clip). Per layer: one model may mix them.
  int max_level = 1;
  // gamma = the absmean (absmax) value times a trained gain per scale (flat
  // parameter "scale_gain", 1 at first), learned through the straight-through
  // estimator with LSQ's step-size gradient (Esser et al. 2020): the stored
  // scale is the product, so no byte more. false = gamma is the absmean value.
  bool learned_scales = false;

  bool operator==(const BitNetOptions& o) const {
    return activation_bits == o.activation_bits && per_row_scale == o.per_row_scale && scale_group == o.scale_group &&
           fp16_scales == o.fp16_scales && input_norm == o.input_norm && max_level == o.max_level &&
           learned_scales == o.learned_scales;
  }
  bool operator!=(const BitNetOptions& o) const { return !(*this == o); }
};

// Throws usage_error naming `where` for an out-of-range field.
void validate_bitnet_options(const BitNetOptions& options, const std::string& where);

}  // namespace seedforge
