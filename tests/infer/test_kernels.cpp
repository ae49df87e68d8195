// The engine's kernels against a scalar reference written from the formulas
// in infer/kernels.h (not from the generic kernel), for every variant this CPU
// runs: odd row lengths (not a multiple of any vector width), stories260K's
// 64- and 172-wide rows, per-tensor, per-row and per-run scales (32-column
// runs as shipped, 64, 96, a 48-column run only the generic kernel takes, a
// run wider than the row), fp32 and fp16 scales, one to six tokens, biases and
// partial row ranges. Integer sums are checked exactly (unit scales), scaled
// results within fp32 rounding of the reference's double sums.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "common/error.h"
#include "infer/kernels.h"
#include "infer/model.h"

using namespace seedforge;
using namespace seedforge::infer;

namespace {

uint16_t to_fp16(float f) {
  // Test values are normal fp16 numbers; truncation is enough here.
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const int e = int((x >> 23) & 0xff) - 127 + 15;
  return static_cast<uint16_t>(sign | (uint32_t(e) << 10) | ((x >> 13) & 0x3ffu));
}

struct Case {
  int64_t rows, cols, group;  // group: 0 per row, -1 per tensor, else run width
  bool fp16;
  int level = 1;  // values -level..level: 1 trits (I2-32), 2..7 levels (I4-32)
};

struct Data {
  std::vector<int8_t> trits;
  std::vector<float> scales;      // as floats (exactly the fp16 values when fp16)
  std::vector<uint16_t> scales16;
  TernaryMatrix m;
};

Data make(const Case& c, std::mt19937& rng, bool unit_scales) {
  Data d;
  std::uniform_int_distribution<int> trit(-c.level, c.level);
  std::uniform_real_distribution<float> scale(0.01f, 2.0f);
  d.trits.resize(static_cast<size_t>(c.rows * c.cols));
  for (auto& t : d.trits) t = static_cast<int8_t>(trit(rng));
  int64_t count = c.group < 0 ? 1 : c.group == 0 ? c.rows : c.rows * ((c.cols + c.group - 1) / c.group);
  for (int64_t i = 0; i < count; ++i) {
    float s = unit_scales ? 1.0f : scale(rng);
    if (c.fp16) {
      d.scales16.push_back(to_fp16(s));
      s = fp16_to_float(d.scales16.back());
    }
    d.scales.push_back(s);
  }
  const void* raw = c.fp16 ? static_cast<const void*>(d.scales16.data()) : static_cast<const void*>(d.scales.data());
  d.m = pack_ternary(d.trits.data(), c.rows, c.cols, c.group > 0 ? c.group : 0, raw, count, c.fp16, c.level);
  return d;
}

float scale_of(const Case& c, const Data& d, int64_t r, int64_t col) {
  if (c.group < 0) return d.scales[0];
  if (c.group == 0) return d.scales[static_cast<size_t>(r)];
  const int64_t runs = (c.cols + c.group - 1) / c.group;
  return d.scales[static_cast<size_t>(r * runs + col / c.group)];
}

// y[t][r] = sum_c scale(r, c) * trit * q / xscale + bias, in double.
double reference(const Case& c, const Data& d, const int8_t* q, float xscale, const float* bias, int64_t r, double* magnitude) {
  double sum = 0.0, mag = 0.0;
  for (int64_t col = 0; col < c.cols; ++col) {
    const double term = double(scale_of(c, d, r, col)) * d.trits[static_cast<size_t>(r * c.cols + col)] * q[col];
    sum += term;
    mag += std::fabs(term);
  }
  *magnitude = mag / xscale + (bias ? std::fabs(bias[r]) : 0.0);
  return sum / xscale + (bias ? bias[r] : 0.0);
}

std::vector<Case> cases(int level = 1) {
  std::vector<Case> out;
  for (int64_t cols : {1, 7, 31, 32, 33, 64, 100, 172, 256, 300, 1000}) {
    for (int64_t group : {-1, 0, 32, 64, 96, 48, 4096}) {
      for (bool fp16 : {false, true}) out.push_back({cols == 172 ? 344 : 13, cols, group, fp16, level});
    }
  }
  return out;
}

void run_int8(const Kernels& k, const Case& c, bool unit_scales) {
  std::mt19937 rng(static_cast<uint32_t>(c.rows * 131 + c.cols * 7 + c.group + (c.fp16 ? 1000 : 0) + c.level * 10007));
  Data d = make(c, rng, unit_scales);
  const TernaryMatrix& m = d.m;
  const int64_t kp = m.chunks * kChunkCols;
  for (int64_t T = 1; T <= 6; ++T) {
    std::uniform_int_distribution<int> qd(-128, 127);
    std::vector<int8_t> q(static_cast<size_t>(T * kp), 0);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t col = 0; col < c.cols; ++col) q[static_cast<size_t>(t * kp + col)] = static_cast<int8_t>(qd(rng));
    }
    std::vector<float> xscale(static_cast<size_t>(T));
    for (auto& s : xscale) s = unit_scales ? 1.0f : std::uniform_real_distribution<float>(0.5f, 200.0f)(rng);
    std::vector<float> bias(static_cast<size_t>(c.rows));
    for (auto& b : bias) b = unit_scales ? 0.0f : std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng);
    // Run sums as the session computes them: the last run extends over the padding.
    std::vector<int32_t> sums(static_cast<size_t>(T * m.groups), 0);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t col = 0; col < kp; ++col) {
        const int64_t g = m.groups == 1 ? 0 : std::min(col / m.group_cols, m.groups - 1);
        sums[static_cast<size_t>(t * m.groups + g)] += q[static_cast<size_t>(t * kp + col)];
      }
    }
    const int64_t ys = c.rows + 3;
    std::vector<float> y(static_cast<size_t>(T * ys), -999.0f);
    TernaryArgs a;
    a.codes = m.codes.data();
    a.chunks = m.chunks;
    a.scales_fp16 = m.fp16_scales;
    a.scales = m.fp16_scales ? static_cast<const void*>(m.scales16.data()) : static_cast<const void*>(m.scales.data());
    a.scale_stride = m.scale_stride;
    a.groups = m.groups;
    a.group_cols = m.group_cols;
    a.bias = unit_scales ? nullptr : bias.data();
    a.row_begin = c.rows > 2 ? 1 : 0;
    a.row_end = c.rows;
    a.T = T;
    a.y = y.data();
    a.y_stride = ys;
    a.q = q.data();
    a.q_stride = kp;
    a.qsum = sums.data();
    a.qsum_stride = m.groups;
    a.xscale = xscale.data();
    a.code_offset = m.max_level;
    const Kernels& chosen = simd_layout(m.groups, m.group_cols) ? k : kernels_generic();
    const TernaryKernelFn fn = m.max_level == 1 ? chosen.ternary_int8 : chosen.levels_int8;
    fn(a);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t r = 0; r < ys; ++r) {
        const float got = y[static_cast<size_t>(t * ys + r)];
        if (r < a.row_begin || r >= a.row_end) {
          ASSERT_EQ(got, -999.0f) << "wrote outside its rows: " << r;
          continue;
        }
        double mag = 0.0;
        const double want = reference(c, d, q.data() + t * kp, xscale[static_cast<size_t>(t)], a.bias, r, &mag);
        if (unit_scales) {
          ASSERT_EQ(double(got), want) << k.name << " level " << c.level << " rows " << c.rows << " cols " << c.cols << " group " << c.group << " T " << T
                                       << " t " << t << " r " << r;
        } else {
          ASSERT_NEAR(double(got), want, 1e-5 * mag + 1e-7)
              << k.name << " level " << c.level << " rows " << c.rows << " cols " << c.cols << " group " << c.group << " fp16 " << c.fp16 << " T " << T
              << " t " << t << " r " << r;
        }
      }
    }
  }
}

}  // namespace

TEST(InferKernels, GenericIsAlwaysRunnableAndDefaultRespectsTheCeiling) {
  ASSERT_GE(runnable_kernel_count(), 1);
  EXPECT_STREQ(runnable_kernels(0).name, "generic");
  EXPECT_LE(static_cast<int>(default_kernels().isa), static_cast<int>(isa_ceiling()));
  EXPECT_THROW(kernels_by_name("no-such-isa"), Error);
  for (int i = 0; i < runnable_kernel_count(); ++i) std::printf("runnable: %s\n", runnable_kernels(i).name);
}

TEST(InferKernels, Fp16ToFloatIsExact) {
  EXPECT_EQ(fp16_to_float(0x3c00), 1.0f);
  EXPECT_EQ(fp16_to_float(0xc000), -2.0f);
  EXPECT_EQ(fp16_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(fp16_to_float(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(fp16_to_float(0x7bff), 65504.0f);
  EXPECT_TRUE(std::isinf(fp16_to_float(0x7c00)));
  EXPECT_TRUE(std::isnan(fp16_to_float(0x7e00)));
  EXPECT_EQ(fp16_to_float(0x3555), 0.333251953125f);
}

TEST(InferKernels, PackedLayoutPutsColumnEightSPlusJInBitPairSOfByteJ) {
  std::vector<int8_t> trits(40, 0);
  trits[0] = 1;    // chunk 0, byte 0, pair 0: code 2
  trits[9] = -1;   // chunk 0, byte 1, pair 1: code 0
  trits[31] = 1;   // chunk 0, byte 7, pair 3: code 2
  trits[39] = -1;  // chunk 1, byte 7, pair 0: code 0
  const float one = 1.0f;
  const TernaryMatrix m = pack_ternary(trits.data(), 1, 40, 0, &one, 1, false);
  ASSERT_EQ(m.chunks, 2);
  ASSERT_EQ(m.codes.size(), 16u);
  EXPECT_EQ(m.codes[0], 0x56);  // pairs (2, 1, 1, 1)
  EXPECT_EQ(m.codes[1], 0x51);  // pairs (1, 0, 1, 1)
  EXPECT_EQ(m.codes[7], 0x95);  // pairs (1, 1, 1, 2)
  EXPECT_EQ(m.codes[8 + 7], 0x54);  // (0, pad 1, pad 1, pad 1)
  EXPECT_EQ(m.codes[8 + 0], 0x55);  // columns 32, 40 (pad), 48 (pad), 56 (pad)
  const int8_t bad = 2;
  EXPECT_THROW(pack_ternary(&bad, 1, 1, 0, &one, 1, false), Error);
  EXPECT_THROW(pack_ternary(trits.data(), 1, 40, 0, &one, 2, false), Error);
}

TEST(InferKernels, TernaryInt8IntegerSumsAreExactInEveryVariant) {
  for (int i = 0; i < runnable_kernel_count(); ++i) {
    for (const Case& c : cases()) run_int8(runnable_kernels(i), c, /*unit_scales=*/true);
  }
}

TEST(InferKernels, TernaryInt8MatchesTheReferenceInEveryVariant) {
  for (int i = 0; i < runnable_kernel_count(); ++i) {
    for (const Case& c : cases()) run_int8(runnable_kernels(i), c, /*unit_scales=*/false);
  }
}

TEST(InferKernels, PackedLevelsPutColumnJInTheLowNibbleAndSixteenPlusJInTheHighNibbleOfByteJ) {
  std::vector<int8_t> values(40, 0);
  values[0] = 3;    // chunk 0, byte 0, low nibble: code 6
  values[17] = -3;  // chunk 0, byte 1, high nibble: code 0
  values[31] = -1;  // chunk 0, byte 15, high nibble: code 2
  values[39] = 2;   // chunk 1, byte 7, low nibble: code 5
  const float one = 1.0f;
  const TernaryMatrix m = pack_ternary(values.data(), 1, 40, 0, &one, 1, false, 3);
  ASSERT_EQ(m.chunks, 2);
  ASSERT_EQ(m.chunk_bytes(), kLevelsChunkBytes);
  ASSERT_EQ(m.codes.size(), 32u);
  EXPECT_EQ(m.codes[0], 0x36);       // columns 0 (6) and 16 (3)
  EXPECT_EQ(m.codes[1], 0x03);       // columns 1 (3) and 17 (0)
  EXPECT_EQ(m.codes[15], 0x23);      // columns 15 (3) and 31 (2)
  EXPECT_EQ(m.codes[16 + 7], 0x35);  // columns 39 (5) and 55 (pad 3)
  EXPECT_EQ(m.codes[16 + 15], 0x33);  // columns 47 and 63, both padding
  std::vector<float> row(40);
  m.row(0, row.data());
  for (int c = 0; c < 40; ++c) EXPECT_EQ(row[static_cast<size_t>(c)], float(values[static_cast<size_t>(c)])) << c;
  const int8_t four = 4;
  EXPECT_THROW(pack_ternary(&four, 1, 1, 0, &one, 1, false, 3), Error);
  EXPECT_THROW(pack_ternary(values.data(), 1, 40, 0, &one, 1, false, kMaxKernelLevel + 1), Error);
  EXPECT_THROW(pack_ternary(values.data(), 1, 40, 0, &one, 1, false, 0), Error);
}

TEST(InferKernels, MatrixRowDecodesValueTimesItsRunsScale) {
  std::mt19937 rng(11);
  for (int level : {1, 2, 7}) {
    for (const Case& c : {Case{3, 100, 32, true, level}, Case{3, 70, 0, false, level}, Case{2, 33, -1, false, level}}) {
      Data d = make(c, rng, false);
      std::vector<float> row(static_cast<size_t>(c.cols));
      for (int64_t r = 0; r < c.rows; ++r) {
        d.m.row(r, row.data());
        for (int64_t col = 0; col < c.cols; ++col) {
          const float want = float(d.trits[static_cast<size_t>(r * c.cols + col)]) * scale_of(c, d, r, col);
          ASSERT_EQ(row[static_cast<size_t>(col)], want) << "level " << level << " r " << r << " col " << col;
        }
      }
    }
  }
}

TEST(InferKernels, LevelsInt8IntegerSumsAreExactInEveryVariant) {
  for (int i = 0; i < runnable_kernel_count(); ++i) {
    for (int level : {2, 3, 7}) {
      for (const Case& c : cases(level)) run_int8(runnable_kernels(i), c, /*unit_scales=*/true);
    }
  }
}

TEST(InferKernels, LevelsInt8MatchesTheReferenceInEveryVariant) {
  for (int i = 0; i < runnable_kernel_count(); ++i) {
    for (int level : {2, 3, 7}) {
      for (const Case& c : cases(level)) run_int8(runnable_kernels(i), c, /*unit_scales=*/false);
    }
  }
}

TEST(InferKernels, TernaryFloatAndDenseMatchTheReferenceInEveryVariant) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int i = 0; i < runnable_kernel_count(); ++i) {
    const Kernels& k = runnable_kernels(i);
    for (const Case& c : cases()) {
      Data d = make(c, rng, false);
      const int64_t kp = d.m.chunks * kChunkCols;
      for (int64_t T = 1; T <= 5; ++T) {
        std::vector<float> x(static_cast<size_t>(T * kp), 0.0f);
        for (int64_t t = 0; t < T; ++t)
          for (int64_t col = 0; col < c.cols; ++col) x[static_cast<size_t>(t * kp + col)] = u(rng);
        std::vector<float> bias(static_cast<size_t>(c.rows));
        for (auto& b : bias) b = u(rng);
        // Ternary, float activations.
        std::vector<float> y(static_cast<size_t>(T * c.rows));
        TernaryArgs a;
        a.codes = d.m.codes.data();
        a.chunks = d.m.chunks;
        a.scales_fp16 = d.m.fp16_scales;
        a.scales = d.m.fp16_scales ? static_cast<const void*>(d.m.scales16.data()) : static_cast<const void*>(d.m.scales.data());
        a.scale_stride = d.m.scale_stride;
        a.groups = d.m.groups;
        a.group_cols = d.m.group_cols;
        a.bias = bias.data();
        a.row_end = c.rows;
        a.T = T;
        a.y = y.data();
        a.y_stride = c.rows;
        a.x = x.data();
        a.x_stride = kp;
        k.ternary_float(a);
        // Dense: the dequantized matrix as fp32 and fp16 weights.
        std::vector<float> w(static_cast<size_t>(c.rows * c.cols));
        std::vector<uint16_t> w16(w.size());
        for (int64_t r = 0; r < c.rows; ++r) {
          for (int64_t col = 0; col < c.cols; ++col) {
            const size_t at = static_cast<size_t>(r * c.cols + col);
            w[at] = u(rng);
            if (std::fabs(w[at]) < 0.01f) w[at] = 0.01f;  // normal fp16 values only (to_fp16 truncates)
            w16[at] = to_fp16(w[at]);
          }
        }
        std::vector<float> y32(static_cast<size_t>(T * c.rows)), y16(y32.size());
        DenseArgs da;
        da.w = w.data();
        da.w_stride = c.cols;
        da.K = c.cols;
        da.x = x.data();
        da.x_stride = kp;
        da.bias = bias.data();
        da.row_end = c.rows;
        da.T = T;
        da.y = y32.data();
        da.y_stride = c.rows;
        k.dense(da);
        da.w = w16.data();
        da.w_fp16 = true;
        da.y = y16.data();
        k.dense(da);
        for (int64_t t = 0; t < T; ++t) {
          for (int64_t r = 0; r < c.rows; ++r) {
            double want = bias[static_cast<size_t>(r)], mag = std::fabs(want);
            double want32 = want, mag32 = mag, want16 = want, mag16 = mag;
            for (int64_t col = 0; col < c.cols; ++col) {
              const double xv = x[static_cast<size_t>(t * kp + col)];
              const double term = double(scale_of(c, d, r, col)) * d.trits[static_cast<size_t>(r * c.cols + col)] * xv;
              want += term;
              mag += std::fabs(term);
              const size_t at = static_cast<size_t>(r * c.cols + col);
              want32 += double(w[at]) * xv;
              mag32 += std::fabs(double(w[at]) * xv);
              want16 += double(fp16_to_float(w16[at])) * xv;
              mag16 += std::fabs(double(fp16_to_float(w16[at])) * xv);
            }
            const size_t at = static_cast<size_t>(t * c.rows + r);
            ASSERT_NEAR(y[at], want, 1e-5 * mag + 1e-7) << k.name << " ternary float cols " << c.cols << " group " << c.group;
            ASSERT_NEAR(y32[at], want32, 1e-5 * mag32 + 1e-7) << k.name << " dense fp32 cols " << c.cols;
            ASSERT_NEAR(y16[at], want16, 1e-5 * mag16 + 1e-7) << k.name << " dense fp16 cols " << c.cols;
          }
        }
      }
    }
  }
}

TEST(InferKernels, AttentionMatchesADoubleSoftmaxInEveryVariant) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int i = 0; i < runnable_kernel_count(); ++i) {
    const Kernels& k = runnable_kernels(i);
    for (int64_t D : {8, 64, 12, 3}) {
      for (int64_t n : {1, 2, 7, 8, 9, 100, 513}) {
        const int64_t cap = n + 5, vs = D * 3;
        std::vector<float> q(static_cast<size_t>(D)), kt(static_cast<size_t>(D * cap)), v(static_cast<size_t>(n * vs));
        for (auto& x : q) x = normal(rng) * 0.5f;
        for (auto& x : kt) x = normal(rng) * 3.0f;  // scores spread over tens: exp's range is exercised
        for (auto& x : v) x = normal(rng);
        std::vector<float> scores(static_cast<size_t>(n)), out(static_cast<size_t>(D), -1.0f);
        AttentionArgs a;
        a.q = q.data();
        a.kt = kt.data();
        a.k_stride = cap;
        a.v = v.data();
        a.v_stride = vs;
        a.n = n;
        a.D = D;
        a.scores = scores.data();
        a.out = out.data();
        k.attend(a);
        std::vector<double> s(static_cast<size_t>(n));
        double max = -1e300, sum = 0.0;
        for (int64_t j = 0; j < n; ++j) {
          double dot = 0.0;
          for (int64_t d = 0; d < D; ++d) dot += double(q[static_cast<size_t>(d)]) * kt[static_cast<size_t>(d * cap + j)];
          s[static_cast<size_t>(j)] = dot;
          max = std::max(max, dot);
        }
        for (auto& x : s) sum += (x = std::exp(x - max));
        for (int64_t d = 0; d < D; ++d) {
          double want = 0.0, mag = 0.0;
          for (int64_t j = 0; j < n; ++j) {
            const double term = s[static_cast<size_t>(j)] / sum * v[static_cast<size_t>(j * vs + d)];
            want += term;
            mag += std::fabs(term);
          }
          ASSERT_NEAR(out[static_cast<size_t>(d)], want, 2e-5 * mag + 1e-7) << k.name << " D " << D << " n " << n << " d " << d;
        }
      }
    }
  }
}
