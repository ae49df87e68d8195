// The inference engine's matrix kernels: ternary weights times int8
// activations (the BitLinear layers), few-level integer weights ("levels"
// projections, values -L..L for L = 2..7) times int8 activations, ternary
// weights times float activations (files with activation_bits 0 or > 8), and
// dense fp32/fp16 weights times float activations (embedding head, projections
// stored with a float codec).
//
// Dimensions: T tokens (activation rows), R weight rows (outputs), K columns
// (inputs), Kp = K rounded up to a multiple of 32.
//
// Packed ternary layout ("I2-32", what the engine repacks the file's base-3
// bytes into): each row is cut into chunks of 32 columns, the last padded with
// zero trits; a chunk is 8 bytes, and bit pair s (bits 2s, 2s+1) of byte j
// holds the code (trit + 1: 0, 1 or 2) of column 8s + j of the chunk. One
// 64-bit load and four shifts give the chunk's 32 codes in column order (the
// SIMD kernels: broadcast, variable shift per 64-bit lane, mask), so every
// kernel reads the same bytes and no row is padded beyond 32 columns.
// A row is Kp / 4 bytes, rows back to back: 2 bits a weight, as bitnet.cpp's I2_S.
//
// Packed levels layout ("I4-32", for max level L in 2..7): the same 32-column
// chunks, 16 bytes each; byte j holds the code (value + L: 0..2L) of column j
// of the chunk in its low nibble and of column 16 + j in its high nibble. One
// 16-byte load, a shift and two masks give the chunk's 32 codes in column
// order (two 16-byte halves). A row is Kp / 2 bytes: 4 bits a weight, against
// 32 (fp32) or 16 (fp16) on the dense path these matrices took before.
//
// Scales: a row's columns fall into `groups` runs of `group_cols` columns (the
// last run shorter; groups == 1: the whole row), one scale per row and run,
// fp32 or fp16, `scale_stride` scales a row (0: every row shares the first
// `groups` scales, i.e. one scale for the tensor).
//
// Int8 kernel, per token t and row r (exact integer sums, then fp32):
//   y[t][r] = (sum_g s[r][g] * (sum_{c in g} code[r][c] * q[t][c] - qsum[t][g])) / xscale[t] + bias[r]
// where qsum[t][g] = sum_{c in g} q[t][c], so that code - 1 = trit: the
// unsigned codes times signed activations is one u8 x s8 multiply-add
// (maddubs / VNNI dpbusd), and the -1 costs one integer per group and token.
// q holds Kp values a token, zero past K. The levels kernel is the same sum
// with code - L = value, so its runs start at -L * qsum (code_offset = L).
// Its codes are at most 14, so maddubs' int16 pair sums (at most
// 2 x 14 x 128 = 3,584) cannot saturate.
//
// One file per instruction set (kernels_generic.cpp, _avx2.cpp, _avx512.cpp,
// _avx512vnni.cpp), chosen at run time by kernels.cpp (SEEDFORGE_ISA caps the
// level: common/cpu_isa.h). The SIMD kernels need group_cols a multiple of 32
// (or groups == 1); other layouts run the generic kernel.
#pragma once

#include <cstdint>

#include "common/cpu_isa.h"

namespace seedforge::infer {

constexpr int64_t kChunkCols = 32;   // columns per packed chunk
constexpr int64_t kChunkBytes = 8;   // bytes per packed ternary chunk (I2-32)
constexpr int64_t kLevelsChunkBytes = 16;  // bytes per packed levels chunk (I4-32)
constexpr int kMaxKernelLevel = 7;   // the largest L whose codes 0..2L fit a nibble

struct TernaryArgs {
  const uint8_t* codes = nullptr;  // [R][chunks * 8] (ternary) or [R][chunks * 16] (levels)
  int64_t chunks = 0;              // Kp / 32
  int32_t code_offset = 1;         // code - code_offset = weight: 1 for trits, L for levels
  const void* scales = nullptr;    // fp32, or fp16 bits with scales_fp16
  bool scales_fp16 = false;
  int64_t scale_stride = 0;        // scales per row; 0 = one set shared by all rows
  int64_t groups = 1;              // scale runs per row
  int64_t group_cols = 0;          // columns per run (groups > 1)
  const float* bias = nullptr;     // [R] or null
  int64_t row_begin = 0, row_end = 0;
  int64_t T = 0;
  float* y = nullptr;              // [T][y_stride]; columns row_begin..row_end-1 written
  int64_t y_stride = 0;
  // Int8 activations (ternary_int8):
  const int8_t* q = nullptr;       // [T][q_stride], q_stride >= Kp, zero past K
  int64_t q_stride = 0;
  const int32_t* qsum = nullptr;   // [T][qsum_stride]: per-run sums of q
  int64_t qsum_stride = 0;
  const float* xscale = nullptr;   // [T]
  // Float activations (ternary_float): y[t][r] = sum_g s[r][g] * sum_{c in g} trit * x[t][c] + bias[r]
  const float* x = nullptr;        // [T][x_stride], x_stride >= Kp, zero past K
  int64_t x_stride = 0;
};

// y[t][r] = sum_k W[r][k] * x[t][k] + bias[r], W fp32 or fp16 (bits) [R][w_stride].
struct DenseArgs {
  const void* w = nullptr;
  bool w_fp16 = false;
  int64_t w_stride = 0;
  int64_t K = 0;
  const float* x = nullptr;  // [T][x_stride]
  int64_t x_stride = 0;
  const float* bias = nullptr;
  int64_t row_begin = 0, row_end = 0;
  int64_t T = 0;
  float* y = nullptr;
  int64_t y_stride = 0;
};

// One query row of causal attention over n cached positions (head dim D):
// scores s_j = q . k_j (q already scaled by 1/sqrt(D)), p = softmax(s) in
// fp32, out = sum_j p_j v_j. Keys transposed: k_j[d] = kt[d * k_stride + j].
struct AttentionArgs {
  const float* q = nullptr;   // [D]
  const float* kt = nullptr;  // [D][k_stride]
  int64_t k_stride = 0;
  const float* v = nullptr;   // v_j = v + j * v_stride, D values
  int64_t v_stride = 0;
  int64_t n = 0, D = 0;
  float* scores = nullptr;    // scratch, n values
  float* out = nullptr;       // [D]
};

using TernaryKernelFn = void (*)(const TernaryArgs& args);
using AttentionFn = void (*)(const AttentionArgs& args);
using DenseKernelFn = void (*)(const DenseArgs& args);

// One instruction-set variant of the kernels.
struct Kernels {
  const char* name = "generic";   // "generic", "avx2", "avx512", "avx512vnni"
  Isa isa = Isa::kGeneric;        // the SEEDFORGE_ISA level it belongs to
  TernaryKernelFn ternary_int8 = nullptr;  // chunk-aligned runs only (generic: any)
  TernaryKernelFn levels_int8 = nullptr;   // I4-32 codes; chunk-aligned runs only (generic: any)
  TernaryKernelFn ternary_float = nullptr;
  DenseKernelFn dense = nullptr;
  AttentionFn attend = nullptr;
};

// Every variant this build has and this CPU runs, lowest first (generic
// always), whatever SEEDFORGE_ISA says: for tests and benchmarks.
int runnable_kernel_count();
const Kernels& runnable_kernels(int index);
// The variant by name (throws usage_error when not runnable here).
const Kernels& kernels_by_name(const char* name);
// The best runnable variant at most isa_ceiling() (SEEDFORGE_ISA).
const Kernels& default_kernels();

// True when the SIMD kernels take this scale layout (chunk-aligned runs).
inline bool simd_layout(int64_t groups, int64_t group_cols) { return groups == 1 || group_cols % kChunkCols == 0; }

// fp16 (IEEE binary16 bits) to fp32, exact; for the generic kernels and loaders.
float fp16_to_float(uint16_t h);
// fp32 to fp16 bits, rounded to nearest even as torch's .to(kFloat16)
// (overflow to Inf, subnormals kept, NaN stays NaN). In model.cpp.
uint16_t float_to_fp16(float f);

// Per-instruction-set entry points (kernels_<isa>.cpp).
Kernels kernels_generic();
Kernels kernels_avx2();
Kernels kernels_avx512();
Kernels kernels_avx512vnni();

}  // namespace seedforge::infer
