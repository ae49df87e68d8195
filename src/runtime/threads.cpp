#include "runtime/threads.h"

#include <dlfcn.h>
#include <malloc.h>
#include <torch/torch.h>

#include <cstdlib>
#include <thread>

namespace seedforge {

namespace {
int g_threads = 0;
}

int configure_threads(int requested) {
  // glibc serves blocks above its mmap threshold (128 KiB, growing only
  // slowly) with fresh zeroed pages each time: the attention scores and
  // logits of every batch were mapped and unmapped again, and system time
  // was 40% of an evaluation (measured: 3.1 s sys vs 4.0 s user on valid.txt).
  // Keeping such blocks in the heap for reuse removes that. A threshold the
  // user set (glibc's MALLOC_MMAP_THRESHOLD_) is left as it is.
  static bool allocator_set = false;
  if (!allocator_set && std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) {
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    allocator_set = true;
  }
  int n = requested > 0 ? requested : static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  torch::set_num_threads(n);
  static bool interop_set = false;
  if (!interop_set) {
    try {
      torch::set_num_interop_threads(1);
    } catch (const c10::Error&) {
      // Already started by an earlier parallel op: harmless.
    }
    interop_set = true;
  }
  // OpenBLAS's own thread count, if its symbol is reachable (pthread builds
  // would otherwise start one thread per core on top of OpenMP's).
  using SetThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(n);
  g_threads = n;
  return n;
}

int configured_threads() { return g_threads > 0 ? g_threads : torch::get_num_threads(); }

std::string blas_description() {
  using GetConfig = char* (*)();
  using GetParallel = int (*)();
  auto config = reinterpret_cast<GetConfig>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  auto parallel = reinterpret_cast<GetParallel>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
  if (config == nullptr) return "unknown";
  std::string s = config();
  if (parallel != nullptr) {
    const int p = parallel();
    s += p == 0 ? " (sequential)" : p == 1 ? " (pthread)" : " (openmp)";
  }
  return s;
}

}  // namespace seedforge
