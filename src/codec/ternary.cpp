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
TernaryTensor ternarize_checked(const float* w, int64_t rows, int64_t cols, TernaryScaleMode mode,
                                const std::vector<float>& gamma, float eps, const std::string& label) {
  const int64_t groups = mode == TernaryScaleMode::kPerRow ? rows : 1;
  const int64_t group_size = mode == TernaryScaleMode::kPerRow ? cols : rows * cols;
  if (static_cast<int64_t>(gamma.size()) != groups) {
    throw usage_error("ternarize ", label, ": ", gamma.size(), " gamma values, expected ", groups);
  }
  TernaryTensor t;
  t.rows = rows;
  t.cols = cols;
  t.mode = mode;
  t.trits.resize(static_cast<size_t>(rows * cols));
  t.scales = gamma;
  for (int64_t g = 0; g < groups; ++g) {
    const float gm = gamma[static_cast<size_t>(g)];
    if (!std::isfinite(gm) || gm < 0.0f) throw usage_error("ternarize ", label, ": gamma ", gm, " of group ", g);
    const float denom = gm + eps;
    const float* src = w + g * group_size;
    int8_t* dst = t.trits.data() + g * group_size;
    for (int64_t i = 0; i < group_size; ++i) {
      // denom == 0 only for an all-zero group with eps = 0: every trit is 0.
      // nearbyint rounds half to even under the default rounding mode, as torch.round.
      const float r = denom > 0.0f ? std::nearbyint(src[i] / denom) : 0.0f;
      dst[i] = static_cast<int8_t>(r > 1.0f ? 1 : (r < -1.0f ? -1 : r));
    }
  }
  return t;
}

}  // namespace

TernaryTensor ternarize_with_gamma(const float* w, int64_t rows, int64_t cols, TernaryScaleMode mode,
                                   const std::vector<float>& gamma, float eps, const std::string& name) {
  const std::string label = ternary_label(name);
  check_ternarize_input(w, rows, cols, eps, label);
  return ternarize_checked(w, rows, cols, mode, gamma, eps, label);
}

TernaryTensor ternarize_absmean(const float* w, int64_t rows, int64_t cols, TernaryScaleMode mode, float eps,
                                const std::string& name) {
  const std::string label = ternary_label(name);
  check_ternarize_input(w, rows, cols, eps, label);
  const int64_t groups = mode == TernaryScaleMode::kPerRow ? rows : 1;
  const int64_t group_size = mode == TernaryScaleMode::kPerRow ? cols : rows * cols;
  std::vector<float> gamma(static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) {
    double sum = 0.0;
    for (int64_t i = 0; i < group_size; ++i) sum += std::fabs(static_cast<double>(w[g * group_size + i]));
    gamma[static_cast<size_t>(g)] = group_size > 0 ? static_cast<float>(sum / static_cast<double>(group_size)) : 0.0f;
  }
  return ternarize_checked(w, rows, cols, mode, gamma, eps, label);
}

void dequantize_ternary(const TernaryTensor& t, float* out) {
  const int64_t group_size = t.mode == TernaryScaleMode::kPerRow ? t.cols : t.rows * t.cols;
  const int64_t n = t.rows * t.cols;
  for (int64_t i = 0; i < n; ++i) {
    const float scale = t.scales[static_cast<size_t>(group_size > 0 ? i / group_size : 0)];
    out[i] = scale * static_cast<float>(t.trits[static_cast<size_t>(i)]);
  }
}

}  // namespace seedforge
