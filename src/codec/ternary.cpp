#include "codec/ternary.h"

#include <cmath>

#include "common/error.h"

namespace seedforge {
namespace {

void check_trit(const int8_t* trits, int64_t i) {
  if (trits[i] < -1 || trits[i] > 1) {
    throw input_error("ternary pack: value ", static_cast<int>(trits[i]), " at index ", i,
                      " is not a trit (-1, 0 or +1)");
  }
}

void check_size(const char* layout, size_t size, int64_t expected, int64_t n) {
  if (n < 0) throw usage_error("ternary unpack (", layout, "): negative trit count ", n);
  if (static_cast<int64_t>(size) != expected) {
    throw input_error("ternary unpack (", layout, "): ", size, " bytes, expected ", expected, " for ", n, " trits");
  }
}

}  // namespace

int64_t trits_base3_bytes(int64_t n) { return (n + 4) / 5; }
int64_t trits_2bit_bytes(int64_t n) { return (n + 3) / 4; }

std::vector<uint8_t> pack_trits_base3(const int8_t* trits, int64_t n) {
  if (n < 0) throw usage_error("ternary pack (base 3): negative trit count ", n);
  std::vector<uint8_t> out(static_cast<size_t>(trits_base3_bytes(n)));
  for (int64_t byte = 0; byte < static_cast<int64_t>(out.size()); ++byte) {
    int value = 0, power = 1;
    for (int i = 0; i < 5; ++i, power *= 3) {
      const int64_t k = byte * 5 + i;
      int digit = 1;  // padding: a zero trit
      if (k < n) {
        check_trit(trits, k);
        digit = trits[k] + 1;
      }
      value += digit * power;
    }
    out[static_cast<size_t>(byte)] = static_cast<uint8_t>(value);
  }
  return out;
}

void unpack_trits_base3(const uint8_t* bytes, size_t size, int64_t n, int8_t* out) {
  check_size("base 3", size, trits_base3_bytes(n), n);
  for (size_t byte = 0; byte < size; ++byte) {
    int value = bytes[byte];
    if (value > 242) throw input_error("ternary unpack (base 3): byte ", byte, " = ", value, " exceeds 3^5 - 1 = 242");
    for (int i = 0; i < 5; ++i) {
      const int digit = value % 3;
      value /= 3;
      const int64_t k = static_cast<int64_t>(byte) * 5 + i;
      if (k < n) {
        out[k] = static_cast<int8_t>(digit - 1);
      } else if (digit != 1) {
        throw input_error("ternary unpack (base 3): padding trit ", k, " in the last byte is ", digit - 1,
                          ", expected 0");
      }
    }
  }
}

std::vector<uint8_t> pack_trits_2bit(const int8_t* trits, int64_t n) {
  if (n < 0) throw usage_error("ternary pack (2 bit): negative trit count ", n);
  std::vector<uint8_t> out(static_cast<size_t>(trits_2bit_bytes(n)));
  for (int64_t byte = 0; byte < static_cast<int64_t>(out.size()); ++byte) {
    int value = 0;
    for (int i = 0; i < 4; ++i) {
      const int64_t k = byte * 4 + i;
      int code = 1;
      if (k < n) {
        check_trit(trits, k);
        code = trits[k] + 1;
      }
      value |= code << (2 * i);
    }
    out[static_cast<size_t>(byte)] = static_cast<uint8_t>(value);
  }
  return out;
}

void unpack_trits_2bit(const uint8_t* bytes, size_t size, int64_t n, int8_t* out) {
  check_size("2 bit", size, trits_2bit_bytes(n), n);
  for (size_t byte = 0; byte < size; ++byte) {
    for (int i = 0; i < 4; ++i) {
      const int code = (bytes[byte] >> (2 * i)) & 3;
      const int64_t k = static_cast<int64_t>(byte) * 4 + i;
      if (code == 3) throw input_error("ternary unpack (2 bit): trit ", k, " has the invalid code 3");
      if (k < n) {
        out[k] = static_cast<int8_t>(code - 1);
      } else if (code != 1) {
        throw input_error("ternary unpack (2 bit): padding trit ", k, " in the last byte is ", code - 1,
                          ", expected 0");
      }
    }
  }
}

namespace {

std::string ternary_label(const std::string& name) {
  return name.empty() ? std::string("tensor") : "tensor '" + name + "'";
}

void check_ternarize_input(const float* w, int64_t rows, int64_t cols, float eps, const std::string& label) {
  if (rows < 0 || cols < 0) throw usage_error("ternarize ", label, ": negative shape ", rows, " x ", cols);
  if (!(eps >= 0.0f) || !std::isfinite(eps)) {
    throw usage_error("ternarize ", label, ": eps ", eps, " must be finite and >= 0");
  }
  const int64_t n = rows * cols;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(w[i])) {
      throw input_error("ternarize ", label, ": value ", i, " (row ", i / cols, ", column ", i % cols, ") is ",
                        std::isnan(w[i]) ? "NaN" : "infinite");
    }
  }
}

// w already checked.
TernaryTensor ternarize_checked(const float* w, int64_t rows, int64_t cols, TernaryScaleLayout layout,
                                const std::vector<float>& gamma, float eps, const std::string& label) {
  const int64_t count = layout.scale_count(rows, cols);
  if (static_cast<int64_t>(gamma.size()) != count) {
    throw usage_error("ternarize ", label, ": ", gamma.size(), " gamma values, expected ", count);
  }
  for (size_t g = 0; g < gamma.size(); ++g) {
    if (!std::isfinite(gamma[g]) || gamma[g] < 0.0f) throw usage_error("ternarize ", label, ": gamma ", gamma[g], " of group ", g);
  }
  TernaryTensor t;
  t.rows = rows;
  t.cols = cols;
  t.layout = layout;
  t.trits.resize(static_cast<size_t>(rows * cols));
  t.scales = gamma;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const float denom = gamma[static_cast<size_t>(layout.scale_index(r, c, cols))] + eps;
      // denom == 0 only for an all-zero group with eps = 0: every trit is 0.
      // nearbyint rounds half to even under the default rounding mode, as torch.round.
      const float x = denom > 0.0f ? std::nearbyint(w[r * cols + c] / denom) : 0.0f;
      t.trits[static_cast<size_t>(r * cols + c)] = static_cast<int8_t>(x > 1.0f ? 1 : (x < -1.0f ? -1 : x));
    }
  }
  return t;
}

}  // namespace

void TernaryScaleLayout::validate() const {
  if (group_cols < 0) throw usage_error("ternary scale layout: negative column group ", group_cols);
  if (group_cols > 0 && mode != TernaryScaleMode::kPerRow) {
    throw usage_error("ternary scale layout: column groups (", group_cols, ") need per-row scales");
  }
}

int64_t TernaryScaleLayout::groups_per_row(int64_t cols) const {
  return group_cols > 0 ? (cols + group_cols - 1) / group_cols : 1;
}

int64_t TernaryScaleLayout::scale_count(int64_t rows, int64_t cols) const {
  return mode == TernaryScaleMode::kPerTensor ? 1 : rows * groups_per_row(cols);
}

int64_t TernaryScaleLayout::scale_index(int64_t row, int64_t col, int64_t cols) const {
  if (mode == TernaryScaleMode::kPerTensor) return 0;
  return group_cols > 0 ? row * groups_per_row(cols) + col / group_cols : row;
}

TernaryTensor ternarize_with_gamma(const float* w, int64_t rows, int64_t cols, TernaryScaleLayout layout,
                                   const std::vector<float>& gamma, float eps, const std::string& name) {
  const std::string label = ternary_label(name);
  layout.validate();
  check_ternarize_input(w, rows, cols, eps, label);
  return ternarize_checked(w, rows, cols, layout, gamma, eps, label);
}

TernaryTensor ternarize_absmean(const float* w, int64_t rows, int64_t cols, TernaryScaleLayout layout, float eps,
                                const std::string& name) {
  const std::string label = ternary_label(name);
  layout.validate();
  check_ternarize_input(w, rows, cols, eps, label);
  const int64_t count = layout.scale_count(rows, cols);
  std::vector<double> sums(static_cast<size_t>(count), 0.0);
  std::vector<int64_t> members(static_cast<size_t>(count), 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const auto g = static_cast<size_t>(layout.scale_index(r, c, cols));
      sums[g] += std::fabs(static_cast<double>(w[r * cols + c]));
      ++members[g];
    }
  }
  std::vector<float> gamma(static_cast<size_t>(count), 0.0f);
  for (size_t g = 0; g < gamma.size(); ++g) {
    if (members[g] > 0) gamma[g] = static_cast<float>(sums[g] / static_cast<double>(members[g]));
  }
  return ternarize_checked(w, rows, cols, layout, gamma, eps, label);
}

void dequantize_ternary(const TernaryTensor& t, float* out) {
  for (int64_t r = 0; r < t.rows; ++r) {
    for (int64_t c = 0; c < t.cols; ++c) {
      const float scale = t.scales[static_cast<size_t>(t.layout.scale_index(r, c, t.cols))];
      out[r * t.cols + c] = scale * static_cast<float>(t.trits[static_cast<size_t>(r * t.cols + c)]);
    }
  }
}

}  // namespace seedforge
