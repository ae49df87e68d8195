// Run-time choice of the kernel variant (kernels.h).
#include "infer/kernels.h"

#include <cstring>
#include <string>

#include "common/error.h"

#if defined(SEEDFORGE_INFER_X86_KERNELS)
#include <cpuid.h>
#endif

namespace seedforge::infer {

namespace {

struct Table {
  Kernels list[4];
  int count = 0;
};

#if defined(SEEDFORGE_INFER_X86_KERNELS)
bool cpu_has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return false;
  return ((c >> 29) & 1u) != 0;
}
#endif

Table build_table() {
  Table t;
  t.list[t.count++] = kernels_generic();
#if defined(SEEDFORGE_INFER_X86_KERNELS)
  const bool f16c = cpu_has_f16c();
  if (cpu_has_isa(Isa::kAvx2) && f16c) t.list[t.count++] = kernels_avx2();
  const bool bw = cpu_has_isa(Isa::kAvx512) && f16c && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl");
  if (bw) t.list[t.count++] = kernels_avx512();
  if (bw && __builtin_cpu_supports("avx512vnni")) t.list[t.count++] = kernels_avx512vnni();
#endif
  return t;
}

const Table& table() {
  static const Table t = build_table();
  return t;
}

}  // namespace

int runnable_kernel_count() { return table().count; }

const Kernels& runnable_kernels(int index) {
  if (index < 0 || index >= table().count) throw usage_error("kernel variant ", index, " does not exist");
  return table().list[index];
}

const Kernels& kernels_by_name(const char* name) {
  std::string known;
  for (int i = 0; i < table().count; ++i) {
    if (std::strcmp(table().list[i].name, name) == 0) return table().list[i];
    known += std::string(i > 0 ? ", " : "") + table().list[i].name;
  }
  throw usage_error("inference kernels '", name, "' do not run on this CPU or build (runnable: ", known, ")");
}

const Kernels& default_kernels() {
  const int ceiling = static_cast<int>(isa_ceiling());
  const Kernels* best = &table().list[0];
  for (int i = 0; i < table().count; ++i) {
    if (static_cast<int>(table().list[i].isa) <= ceiling) best = &table().list[i];
  }
  return *best;
}

}  // namespace seedforge::infer
