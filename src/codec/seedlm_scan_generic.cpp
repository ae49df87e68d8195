// Portable build of the seed-scan kernel: plain float lanes, no intrinsics.
#include "codec/seedlm_scan_kernel.h"

namespace seedforge {
namespace {

struct Scalar {
  using V = float;
  static constexpr int kLanes = 1;
  static V load(const float* p) { return *p; }
  static void store(float* p, V v) { *p = v; }
  static V broadcast(float x) { return x; }
  static V zero() { return 0.0f; }
  static V mul(V a, V b) { return a * b; }
  // Two roundings here, one with FMA: the pruning margin allows for either.
  static V fma(V a, V b, V c) { return a * b + c; }
  static uint32_t ge_mask(V a, V b) { return a >= b ? 1u : 0u; }
};

}  // namespace

SeedLMScanKernel seedlm_scan_kernel_generic(int C, int P) {
  const Isa isa = Isa::kGeneric;
  if (C == 8 && P == 4) return fixed_kernels<Scalar, 8, 4, 8>(isa);
  if (C == 8 && P == 3) return fixed_kernels<Scalar, 8, 3, 8>(isa);
  return runtime_kernels<Scalar, 8>(isa);
}

}  // namespace seedforge
