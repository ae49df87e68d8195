// Counters shared by bench_infer (the engine, torch-free) and
// bench_infer_torch (libtorch): process memory from /proc/self/status, CPU
// time of all threads from getrusage.
#pragma once

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdint>
#include <fstream>
#include <string>

namespace seedforge::bench {

// VmHWM (peak) or VmRSS (current) of this process in MiB, -1 when unknown.
inline double status_mib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return double(std::stoll(line.substr(key.size() + 1))) / 1024.0;
  }
  return -1.0;
}

struct CpuTimes {
  double user = 0, sys = 0;
  static CpuTimes now() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return {double(u.ru_utime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec),
            double(u.ru_stime.tv_sec) + 1e-6 * double(u.ru_stime.tv_usec)};
  }
};

// threads, user_s and sys_s per iteration, peak_rss_MiB, rss_after_load_MiB, weights_MiB; label = kernels.
inline void add_counters(benchmark::State& state, int threads, const CpuTimes& start, double rss_after_load_mib,
                         double weights_mib, const std::string& label) {
  const CpuTimes end = CpuTimes::now();
  const double n = double(state.iterations());
  state.counters["threads"] = threads;
  state.counters["user_s"] = (end.user - start.user) / n;
  state.counters["sys_s"] = (end.sys - start.sys) / n;
  state.counters["peak_rss_MiB"] = status_mib("VmHWM");
  state.counters["rss_after_load_MiB"] = rss_after_load_mib;
  state.counters["weights_MiB"] = weights_mib;
  state.SetLabel(label);
}

}  // namespace seedforge::bench
