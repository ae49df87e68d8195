#include "codec/seedlm_scan.h"

#include "common/error.h"

namespace seedforge {

bool seedlm_isa_supported(Isa isa) {
#if defined(SEEDFORGE_CODEC_X86_KERNELS)
  return cpu_has_isa(isa);
#else
  return isa == Isa::kGeneric;
#endif
}

Isa seedlm_default_isa() {
  const Isa ceiling = isa_ceiling();
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2}) {
    if (static_cast<int>(isa) <= static_cast<int>(ceiling) && seedlm_isa_supported(isa)) return isa;
  }
  return Isa::kGeneric;
}

SeedLMScanKernel seedlm_scan_kernel(int C, int P, Isa isa) {
  if (!seedlm_isa_supported(isa)) {
    throw usage_error("SeedLM scan kernel: instruction set ", isa_name(isa),
                      " is not supported by this build or CPU");
  }
#if defined(SEEDFORGE_CODEC_X86_KERNELS)
  if (isa == Isa::kAvx512) return seedlm_scan_kernel_avx512(C, P);
  if (isa == Isa::kAvx2) return seedlm_scan_kernel_avx2(C, P);
#endif
  return seedlm_scan_kernel_generic(C, P);
}

SeedLMScanKernel seedlm_scan_kernel(int C, int P) { return seedlm_scan_kernel(C, P, seedlm_default_isa()); }

}  // namespace seedforge
