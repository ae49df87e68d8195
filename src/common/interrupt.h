// SIGINT and SIGTERM as a request to stop at the next safe point instead of
// dying mid-write: the handler only records the signal; long loops (the
// fine-tuning steps, the pipeline's stages) poll interrupt_signal() and stop
// cleanly, writing a checkpoint where there is one to write. A second signal
// while the first is still pending takes the default action (the process
// ends at once), so a user who presses Ctrl-C twice is never kept waiting.
// Torch-free.
#pragma once

#include <string>

#include "common/error.h"

namespace seedforge {

// A run that stopped at a safe point because of a signal. A tool's main()
// exits with 128 + signal() (130 for SIGINT, 143 for SIGTERM), as a shell
// reports a process killed by that signal. Its kind is kRuntime, so callers
// that only know Error still treat it as a failure.
class InterruptedError : public Error {
 public:
  InterruptedError(int signal, const std::string& message) : Error(ErrorKind::kRuntime, message), signal_(signal) {}
  int signal() const { return signal_; }

 private:
  int signal_;
};

// Installs the handlers for SIGINT and SIGTERM. Idempotent. Without this call
// interrupt_signal() stays 0 and the signals keep their default action.
void install_interrupt_handlers();

// The first signal received since the handlers were installed (or since
// clear_interrupt()), 0 when none.
int interrupt_signal();

// Forgets a received signal (tests; a caller that handled the request).
void clear_interrupt();

// Records `signal` as if it had been received: the run stops at its next safe
// point exactly as for a real one. For code that must stop a run from inside
// a callback (the Python module, when the user's progress callable raises).
void request_interrupt(int signal);

// install_interrupt_handlers() for one scope: the handlers that were in place
// (Python's own SIGINT handler, say) come back when it ends, and a signal
// received in the scope is forgotten. For a library embedded in a host
// process that owns its signals; the tool's main() keeps the plain call.
class ScopedInterruptHandlers {
 public:
  ScopedInterruptHandlers();
  ~ScopedInterruptHandlers();
  ScopedInterruptHandlers(const ScopedInterruptHandlers&) = delete;
  ScopedInterruptHandlers& operator=(const ScopedInterruptHandlers&) = delete;

 private:
  struct Saved;
  Saved* saved_;
};

// "SIGINT", "SIGTERM", else "signal N".
const char* signal_name(int signal);

}  // namespace seedforge
