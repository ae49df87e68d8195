// Process memory high-water marks: peak resident set (Linux VmHWM) and, in
// builds against a CUDA libtorch, the CUDA caching allocator's peak.
// Torch-free in CPU builds (no CUDA headers unless SEEDFORGE_CUDA is defined,
// which src/eval/CMakeLists.txt does when libtorch brings CUDA libraries).
#pragma once

#include "common/release_memory.h"

#include <cstdint>

namespace seedforge {

// Peak resident set size of this process in bytes: VmHWM from
// /proc/self/status, else getrusage's ru_maxrss (KiB on Linux).
int64_t peak_rss_bytes();
// Current resident set size in bytes (VmRSS), or -1 when unknown.
int64_t current_rss_bytes();
// Resets the peak to the current RSS (Linux >= 4.0: "5" > /proc/self/clear_refs)
// so that the next peak_rss_bytes() covers only what follows. False when the
// kernel refused (the peak then stays the process-lifetime one).
bool reset_peak_rss();

// release_free_memory() lives in common/release_memory.h (included above).

// Physical memory of this machine in bytes (MemTotal), or -1 when unknown.
int64_t physical_memory_bytes();

// True when this build can read CUDA allocator statistics.
bool cuda_memory_stats_available();
// Peak bytes allocated by libtorch's CUDA caching allocator on `device_index`
// since the last reset_peak_cuda_bytes (or the start); -1 in builds without CUDA.
int64_t peak_cuda_bytes(int device_index);
void reset_peak_cuda_bytes(int device_index);

}  // namespace seedforge
