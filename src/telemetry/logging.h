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
#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

namespace seedforge {

// `log_file` empty = console only. Throws usage_error when the file's folder
// is missing or not writable, runtime_error when it cannot be opened.
void setup_logging(const std::string& log_file, bool verbose);

// The logger (also spdlog's default logger, so spdlog::info(...) goes here).
std::shared_ptr<spdlog::logger> log();

}  // namespace seedforge
