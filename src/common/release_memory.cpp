#include "common/release_memory.h"

#include <cstdlib>  // defines __GLIBC__ on glibc systems
#include <string>

#if defined(__GLIBC__)
#include <dlfcn.h>
#include <malloc.h>
#endif

namespace seedforge {

#if defined(__GLIBC__)
namespace {
// jemalloc's control call where jemalloc is the allocator (linked into the
// stage1 tool, or preloaded with LD_PRELOAD), else null.
using Mallctl = int (*)(const char*, void*, size_t*, void*, size_t);
Mallctl jemalloc_mallctl() {
  static const auto mallctl = reinterpret_cast<Mallctl>(dlsym(RTLD_DEFAULT, "mallctl"));
  return mallctl;
}
}  // namespace
#endif

std::string allocator_description() {
#if defined(__GLIBC__)
  if (const Mallctl mallctl = jemalloc_mallctl()) {
    const char* version = nullptr;
    size_t size = sizeof(version);
    if (mallctl("version", &version, &size, nullptr, 0) == 0 && version != nullptr) return std::string("jemalloc ") + version;
    return "jemalloc";
  }
  return "glibc malloc";
#else
  return "system malloc";
#endif
}

void release_free_memory() {
#if defined(__GLIBC__)
  // jemalloc replaces malloc but not malloc_trim: its own call purges every
  // arena's unused pages (4096 is MALLCTL_ARENAS_ALL).
  if (const Mallctl mallctl = jemalloc_mallctl()) {
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
    return;
  }
  malloc_trim(0);
#endif
}

}  // namespace seedforge
