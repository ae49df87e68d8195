// AVX-512 build of the seed-scan kernel (compiled with -mavx512f -mfma).
#include <immintrin.h>

#include "codec/seedlm_scan_kernel.h"

namespace seedforge {
namespace {

struct Avx512 {
  using V = __m512;
  static constexpr int kLanes = 16;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V broadcast(float x) { return _mm512_set1_ps(x); }
  static V zero() { return _mm512_setzero_ps(); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static uint32_t ge_mask(V a, V b) { return static_cast<uint32_t>(_mm512_cmp_ps_mask(a, b, _CMP_GE_OQ)); }
};

}  // namespace

SeedLMScanKernel seedlm_scan_kernel_avx512(int C, int P) {
  // Tiles of 32 blocks keep W (C x 2 registers) and the accumulators in the 32
  // zmm registers for C = 8; C = 12 uses tiles of 16.
  const Isa isa = Isa::kAvx512;
  if (C == 8 && P == 4) return fixed_kernels<Avx512, 8, 4, 2>(isa);
  if (C == 8 && P == 3) return fixed_kernels<Avx512, 8, 3, 2>(isa);
  if (C == 12 && P == 4) return fixed_kernels<Avx512, 12, 4, 1>(isa);
  return runtime_kernels<Avx512, 1>(isa);
}

}  // namespace seedforge
