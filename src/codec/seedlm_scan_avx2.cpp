// AVX2 build of the seed-scan kernel (compiled with -mavx2 -mfma).
#include <immintrin.h>

#include "codec/seedlm_scan_kernel.h"

namespace seedforge {
namespace {

struct Avx2 {
  using V = __m256;
  static constexpr int kLanes = 8;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V broadcast(float x) { return _mm256_set1_ps(x); }
  static V zero() { return _mm256_setzero_ps(); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static uint32_t ge_mask(V a, V b) {
    return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_GE_OQ)));
  }
};

}  // namespace

SeedLMScanKernel seedlm_scan_kernel_avx2(int C, int P) {
  // 16 ymm registers: W (C x 1) plus the accumulators.
  const Isa isa = Isa::kAvx2;
  if (C == 8 && P == 4) return fixed_kernels<Avx2, 8, 4, 1>(isa);
  if (C == 8 && P == 3) return fixed_kernels<Avx2, 8, 3, 1>(isa);
  if (C == 12 && P == 4) return fixed_kernels<Avx2, 12, 4, 1>(isa);
  return runtime_kernels<Avx2, 1>(isa);
}

}  // namespace seedforge
