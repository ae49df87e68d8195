// Threading policy. libtorch's intra-op pool is OpenMP; Debian's OpenBLAS
// comes in a pthread and an OpenMP build. We use the OpenMP build
// (scripts/install-deps.sh selects it with update-alternatives) so that BLAS
// calls run on the same OpenMP pool instead of a second set of threads that
// competes for the cores. Default: one intra-op thread per core, one
// inter-op thread (we never run independent ops concurrently).
#pragma once

#include <string>

namespace seedforge {

// requested <= 0: one per core. Idempotent; returns the thread count in force.
// Also keeps large freed blocks in the heap (glibc mallopt), see threads.cpp.
int configure_threads(int requested);
int configured_threads();
// "OpenBLAS 0.3.21 ... (openmp)" or "unknown": which BLAS build is loaded.
std::string blas_description();

}  // namespace seedforge
