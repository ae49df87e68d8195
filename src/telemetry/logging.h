// The project's one spdlog logger: a readable console and a detailed file.
//
// Console (stderr): "[info] message", level info (debug when verbose), colour
// only on a terminal. File: "2024-05-01 12:00:00.123 [debug] message", level
// debug, appended to (a resumed run continues its log), flushed on every info
// line so that `tail -f` and a crash both see what happened.
//
// Before setup_logging() log() already works, console only. Calling
// setup_logging() again swaps the sinks in place: loggers obtained earlier
// from log() write to the new file from then on.
//
// This header does not include spdlog: code that includes libtorch logs
// through log_message() with ready-made strings. pip's libtorch ships its own
// fmt (a newer major version) in its include folder, and spdlog 1.10 compiled
// against that fmt does not build. Torch-free code may use the spdlog logger
// itself (telemetry/spdlog_logger.h).
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace seedforge {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// `log_file` empty = console only. Throws usage_error when the file's folder
// is missing or not writable, runtime_error when it cannot be opened.
// quiet_console: warnings and errors only on the console (the ranks > 0 of a
// data-parallel run, whose every line is in their own log file).
void setup_logging(const std::string& log_file, bool verbose, bool quiet_console = false);

// One line at `level` through the project's logger.
void log_message(LogLevel level, const std::string& message);
inline void log_info(const std::string& message) { log_message(LogLevel::kInfo, message); }
inline void log_warn(const std::string& message) { log_message(LogLevel::kWarn, message); }

// Also hands every line at `min_level` or above to `listener` (on the thread
// that logs it, whoever logs it: log_message() or the spdlog logger itself)
// while the scope lives. The Python module's progress callable uses it.
using LogListener = std::function<void(LogLevel level, const std::string& message)>;
class ScopedLogListener {
 public:
  ScopedLogListener(LogListener listener, LogLevel min_level);
  ~ScopedLogListener();
  ScopedLogListener(const ScopedLogListener&) = delete;
  ScopedLogListener& operator=(const ScopedLogListener&) = delete;

 private:
  std::shared_ptr<void> sink_;  // a spdlog sink; void so that this header stays spdlog-free
};

}  // namespace seedforge
