#include "eval/peak_memory.h"

#include <sys/resource.h>

#include <fstream>
#include <string>

#if defined(SEEDFORGE_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace seedforge {

namespace {

// "VmHWM:     12345 kB" -> 12345 * 1024; -1 when the field is absent.
int64_t kb_field_bytes(const char* file, const std::string& field) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, field.size(), field) == 0 && line.size() > field.size() && line[field.size()] == ':') {
      try {
        return std::stoll(line.substr(field.size() + 1)) * 1024;
      } catch (const std::exception&) {
        return -1;
      }
    }
  }
  return -1;
}

int64_t status_field_bytes(const std::string& field) { return kb_field_bytes("/proc/self/status", field); }

}  // namespace

int64_t physical_memory_bytes() { return kb_field_bytes("/proc/meminfo", "MemTotal"); }

int64_t peak_rss_bytes() {
  const int64_t hwm = status_field_bytes("VmHWM");
  if (hwm >= 0) return hwm;
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return -1;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

int64_t current_rss_bytes() { return status_field_bytes("VmRSS"); }

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

#if defined(SEEDFORGE_CUDA)

bool cuda_memory_stats_available() { return true; }

int64_t peak_cuda_bytes(int device_index) {
  // Stat index 0 is StatType::AGGREGATE in every libtorch since 1.x.
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device_index));
  return stats.allocated_bytes[0].peak;
}

void reset_peak_cuda_bytes(int device_index) {
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device_index));
}

#else

bool cuda_memory_stats_available() { return false; }
int64_t peak_cuda_bytes(int) { return -1; }
void reset_peak_cuda_bytes(int) {}

#endif

}  // namespace seedforge
