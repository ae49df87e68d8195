#include "common/cpu_isa.h"

#include <cstdlib>
#include <cstring>

#include "common/error.h"

namespace seedforge {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kGeneric:
      return "generic";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

bool cpu_has_isa(Isa isa) {
  if (isa == Isa::kGeneric) return true;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (isa == Isa::kAvx2) return avx2;
  if (isa == Isa::kAvx512) return avx2 && __builtin_cpu_supports("avx512f");
#endif
  return false;
}

Isa cpu_best_isa() {
  if (cpu_has_isa(Isa::kAvx512)) return Isa::kAvx512;
  if (cpu_has_isa(Isa::kAvx2)) return Isa::kAvx2;
  return Isa::kGeneric;
}

Isa isa_ceiling() {
  const char* env = std::getenv("SEEDFORGE_ISA");
  if (env == nullptr || *env == '\0') return cpu_best_isa();
  for (Isa isa : kAllIsas) {
    if (std::strcmp(env, isa_name(isa)) != 0) continue;
    if (!cpu_has_isa(isa)) {
      throw usage_error("SEEDFORGE_ISA=", env, ": this CPU cannot run it (it runs up to ", isa_name(cpu_best_isa()),
                        ")");
    }
    return isa;
  }
  throw usage_error("SEEDFORGE_ISA=", env, ": expected generic, avx2 or avx512");
}

}  // namespace seedforge
