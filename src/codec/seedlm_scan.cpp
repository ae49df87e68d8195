#include "codec/seedlm_scan.h"

#include <cstdlib>
#include <cstring>

#include "common/error.h"

namespace seedforge {

bool seedlm_isa_supported(SeedLMIsa isa) {
  switch (isa) {
    case SeedLMIsa::kGeneric:
      return true;
    case SeedLMIsa::kAvx2:
#if defined(SEEDFORGE_CODEC_X86_KERNELS)
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
      return false;
#endif
    case SeedLMIsa::kAvx512:
#if defined(SEEDFORGE_CODEC_X86_KERNELS)
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#else
      return false;
#endif
  }
  return false;
}

const char* seedlm_isa_name(SeedLMIsa isa) {
  switch (isa) {
    case SeedLMIsa::kGeneric:
      return "generic";
    case SeedLMIsa::kAvx2:
      return "avx2";
    case SeedLMIsa::kAvx512:
      return "avx512";
  }
  return "?";
}

SeedLMIsa seedlm_default_isa() {
  if (const char* env = std::getenv("SEEDFORGE_CODEC_ISA"); env && *env) {
    for (SeedLMIsa isa : {SeedLMIsa::kGeneric, SeedLMIsa::kAvx2, SeedLMIsa::kAvx512}) {
      if (std::strcmp(env, seedlm_isa_name(isa)) == 0) {
        if (!seedlm_isa_supported(isa)) {
          throw usage_error("SEEDFORGE_CODEC_ISA=", env, ": not supported by this build or CPU");
        }
        return isa;
      }
    }
    throw usage_error("SEEDFORGE_CODEC_ISA=", env, ": expected generic, avx2 or avx512");
  }
  if (seedlm_isa_supported(SeedLMIsa::kAvx512)) return SeedLMIsa::kAvx512;
  if (seedlm_isa_supported(SeedLMIsa::kAvx2)) return SeedLMIsa::kAvx2;
  return SeedLMIsa::kGeneric;
}

SeedLMScanKernel seedlm_scan_kernel(int C, int P, SeedLMIsa isa) {
  if (!seedlm_isa_supported(isa)) {
    throw usage_error("SeedLM scan kernel: instruction set ", seedlm_isa_name(isa),
                      " is not supported by this build or CPU");
  }
#if defined(SEEDFORGE_CODEC_X86_KERNELS)
  if (isa == SeedLMIsa::kAvx512) return seedlm_scan_kernel_avx512(C, P);
  if (isa == SeedLMIsa::kAvx2) return seedlm_scan_kernel_avx2(C, P);
#endif
  return seedlm_scan_kernel_generic(C, P);
}

SeedLMScanKernel seedlm_scan_kernel(int C, int P) { return seedlm_scan_kernel(C, P, seedlm_default_isa()); }

}  // namespace seedforge
