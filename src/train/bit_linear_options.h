// BitNetOptions and the constants that define BitNet b1.58 quantization in
// seedforge (formulas in bit_linear.h). Torch-free.
#pragma once

#include <string>

namespace seedforge {

// Added to gamma before dividing: keeps an all-zero tensor (or row) from
// dividing by zero; such a tensor quantizes to all-zero trits. Part of the
// stored format's definition: the codec reproduces trits with the same value:
//   trits = RoundClip(W / (gamma + kTernaryEps), -1, 1), gamma = mean |W| in fp32.
inline constexpr float kTernaryEps = 1e-5f;
// Floor of a token's max |x|: an all-zero token quantizes to zeros, not NaN.
inline constexpr float kActivationEps = 1e-5f;
// Epsilon of the optional parameter-free input RMSNorm.
inline constexpr float kInputNormEps = 1e-5f;

// How a BitLinear quantizes (the layer-level part of the "bitnet" config section).
struct BitNetOptions {
  int activation_bits = 8;     // 0 = activations stay full precision; else 2..16
  bool per_row_scale = false;  // gamma per output row instead of per tensor
  bool input_norm = false;     // parameter-free RMSNorm before activation quantization
};

// Throws usage_error naming `where` for an out-of-range field.
void validate_bitnet_options(const BitNetOptions& options, const std::string& where);

}  // namespace seedforge
