#include "common/interrupt.h"

#include <signal.h>

#include <atomic>
#include <csignal>

namespace seedforge {

namespace {

// Lock-free, so reading and writing it from a signal handler is safe.
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the interrupt flag must be usable in a signal handler");

void on_signal(int sig) {
  int expected = 0;
  if (!g_signal.compare_exchange_strong(expected, sig)) {
    // Already asked to stop once: the user insists. signal() and raise() are
    // async-signal-safe.
    ::signal(sig, SIG_DFL);
    ::raise(sig);
  }
}

}  // namespace

void install_interrupt_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  // Restart interrupted reads and writes: the loops poll the flag themselves.
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

int interrupt_signal() { return g_signal.load(); }

void clear_interrupt() { g_signal.store(0); }

void request_interrupt(int signal) {
  int expected = 0;
  g_signal.compare_exchange_strong(expected, signal);
}

struct ScopedInterruptHandlers::Saved {
  struct sigaction sigint {}, sigterm {};
};

ScopedInterruptHandlers::ScopedInterruptHandlers() : saved_(new Saved) {
  ::sigaction(SIGINT, nullptr, &saved_->sigint);
  ::sigaction(SIGTERM, nullptr, &saved_->sigterm);
  clear_interrupt();
  install_interrupt_handlers();
}

ScopedInterruptHandlers::~ScopedInterruptHandlers() {
  ::sigaction(SIGINT, &saved_->sigint, nullptr);
  ::sigaction(SIGTERM, &saved_->sigterm, nullptr);
  clear_interrupt();
  delete saved_;
}

const char* signal_name(int signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "a signal";
  }
}

}  // namespace seedforge
