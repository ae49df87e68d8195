#include "common/fault_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/interrupt.h"

namespace seedforge {

namespace {
std::atomic<bool> g_continue{false};
void on_continue(int) { g_continue.store(true); }
}  // namespace

void fault_point(const char* name) {
  static const char* const wanted = std::getenv("SEEDFORGE_FAULT_PAUSE");
  if (wanted == nullptr || std::strcmp(wanted, name) != 0) return;
  // A process-directed signal goes to any thread that does not block it (an
  // OpenMP worker, the metrics server), so this thread cannot simply
  // sigsuspend(): the handlers set flags and this thread polls them. A signal
  // sent as soon as the line below is seen finds its handler installed.
  g_continue.store(false);
  struct sigaction go_on = {};
  struct sigaction previous = {};
  go_on.sa_handler = on_continue;
  sigemptyset(&go_on.sa_mask);
  ::sigaction(SIGUSR1, &go_on, &previous);
  std::fprintf(stderr, "fault point '%s' reached (pid %d)\n", name, static_cast<int>(::getpid()));
  std::fflush(stderr);
  while (!g_continue.load() && interrupt_signal() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::sigaction(SIGUSR1, &previous, nullptr);
}

}  // namespace seedforge
