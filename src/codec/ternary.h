// Ternary weights {-1, 0, +1} with fp32 scales: absmean ternarization
// (BitNet b1.58) and two packed layouts, specified in docs/FORMAT.md,
// "Packed ternary":
//   base 3:  five trits a byte, byte = sum_{i=0..4} (t_i + 1) * 3^i (0 .. 242),
//            trits in row-major order, the last byte padded with zero trits;
//            1.6 bits per weight.
//   2 bit:   four trits a byte, trit i in bits 2i..2i+1 as the code t + 1
//            (0, 1, 2; 3 is invalid), the last byte padded with zero trits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace seedforge {

int64_t trits_base3_bytes(int64_t n);  // ceil(n / 5)
int64_t trits_2bit_bytes(int64_t n);   // ceil(n / 4)

// Throw input_error naming the index when a trit is not -1, 0 or +1.
std::vector<uint8_t> pack_trits_base3(const int8_t* trits, int64_t n);
std::vector<uint8_t> pack_trits_2bit(const int8_t* trits, int64_t n);

// out: n trits. Throw input_error when size != the packed size of n, a byte is
// out of range (base 3: > 242; 2 bit: a code 3), or a padding trit is not 0.
void unpack_trits_base3(const uint8_t* bytes, size_t size, int64_t n, int8_t* out);
void unpack_trits_2bit(const uint8_t* bytes, size_t size, int64_t n, int8_t* out);

enum class TernaryScaleMode { kPerTensor, kPerRow };

// Which weights share a scale: the whole tensor, or each output row; a row
// may be split further into runs of `group_cols` input columns (the last run
// shorter when cols is not a multiple), one scale per row and run, stored
// row-major ([rows, ceil(cols / group_cols)]). Finer scales fit a ternary
// matrix better for a few more stored bytes (docs/FORMAT.md).
struct TernaryScaleLayout {
  TernaryScaleMode mode = TernaryScaleMode::kPerTensor;
  int64_t group_cols = 0;  // kPerRow only: 0 = one scale for the whole row
  TernaryScaleLayout() = default;
  TernaryScaleLayout(TernaryScaleMode m, int64_t group = 0) : mode(m), group_cols(group) {}  // NOLINT: implicit from a mode
  // Throws usage_error for a negative group or a group with kPerTensor.
  void validate() const;
  int64_t groups_per_row(int64_t cols) const;          // 1 unless grouped
  int64_t scale_count(int64_t rows, int64_t cols) const;
  // Index into the scales of the weight at (row, col).
  int64_t scale_index(int64_t row, int64_t col, int64_t cols) const;
};

struct TernaryTensor {
  int64_t rows = 0, cols = 0;
  TernaryScaleLayout layout;
  std::vector<int8_t> trits;  // rows x cols, row-major
  std::vector<float> scales;  // layout.scale_count(rows, cols) values
};

// Absmean ternarization as BitNet b1.58's BitLinear, with one gamma per
// tensor, per output row (a row of the rows x cols matrix) or per row and run
// of columns: gamma = mean |W| over the weights that share it (fp32 of a
// double sum), W_q = RoundClip(W / (gamma + eps), -1, 1) with round half to
// even (torch.round), stored scale = gamma, so scale * W_q is the weight
// BitLinear's forward uses. Throws input_error on NaN/Inf (naming `name` and
// the index) and usage_error on negative sizes or eps or a bad layout.
TernaryTensor ternarize_absmean(const float* w, int64_t rows, int64_t cols, TernaryScaleLayout layout,
                                float eps = 1e-5f, const std::string& name = "");

// The same with given gammas (layout.scale_count values, e.g. those a torch
// model computed), so that the trits match that model bit for bit.
TernaryTensor ternarize_with_gamma(const float* w, int64_t rows, int64_t cols, TernaryScaleLayout layout,
                                   const std::vector<float>& gamma, float eps = 1e-5f,
                                   const std::string& name = "");

// out: rows x cols floats, scale * trit.
void dequantize_ternary(const TernaryTensor& t, float* out);

}  // namespace seedforge
