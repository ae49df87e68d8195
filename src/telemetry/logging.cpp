#include "telemetry/logging.h"

#include <algorithm>
#include <mutex>
#include <vector>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/file_util.h"
#include "telemetry/spdlog_logger.h"

namespace seedforge {

namespace {

constexpr const char* kConsolePattern = "[%^%l%$] %v";
constexpr const char* kFilePattern = "%Y-%m-%d %H:%M:%S.%e [%l] %v";

spdlog::sink_ptr make_console_sink(bool verbose, bool quiet = false) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  sink->set_pattern(kConsolePattern);
  sink->set_level(quiet ? spdlog::level::warn : verbose ? spdlog::level::debug : spdlog::level::info);
  return sink;
}

// The logger writes to one dist_sink whose children (console, file) can be
// replaced under its mutex; the logger object itself never changes, so
// shared_ptrs handed out earlier stay valid and follow the new sinks.
struct LoggingState {
  std::shared_ptr<spdlog::sinks::dist_sink_mt> fan_out;
  std::shared_ptr<spdlog::logger> logger;
  // ScopedLogListener's sinks, kept when setup_logging() replaces the others.
  std::mutex listeners_mutex;
  std::vector<spdlog::sink_ptr> listeners;

  LoggingState() {
    fan_out = std::make_shared<spdlog::sinks::dist_sink_mt>();
    fan_out->set_sinks({make_console_sink(false)});
    logger = std::make_shared<spdlog::logger>("seedforge", fan_out);
    // Sink levels do the filtering; the logger passes everything down to debug.
    logger->set_level(spdlog::level::debug);
    logger->flush_on(spdlog::level::info);
    // Not spdlog::register_logger/initialize_logger: that would overwrite the
    // per-sink patterns with the registry's global one.
    spdlog::set_default_logger(logger);
  }
};

LoggingState& state() {
  static LoggingState instance;
  return instance;
}

}  // namespace

void setup_logging(const std::string& log_file, bool verbose, bool quiet_console) {
  LoggingState& s = state();
  std::vector<spdlog::sink_ptr> sinks = {make_console_sink(verbose, quiet_console)};
  if (!log_file.empty()) {
    check_output_path_writable(log_file);
    std::shared_ptr<spdlog::sinks::basic_file_sink_mt> file;
    try {
      file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file, /*truncate=*/false);
    } catch (const spdlog::spdlog_ex& e) {
      throw runtime_error("cannot open log file '", log_file, "': ", e.what());
    }
    file->set_pattern(kFilePattern);
    file->set_level(spdlog::level::debug);
    sinks.push_back(file);
  }
  s.logger->flush();
  // The old file sink is closed when its last reference (here) goes away.
  {
    std::lock_guard<std::mutex> lock(s.listeners_mutex);
    sinks.insert(sinks.end(), s.listeners.begin(), s.listeners.end());
    s.fan_out->set_sinks(std::move(sinks));
  }
}

std::shared_ptr<spdlog::logger> log() { return state().logger; }

void log_message(LogLevel level, const std::string& message) {
  static constexpr spdlog::level::level_enum kLevels[] = {spdlog::level::debug, spdlog::level::info, spdlog::level::warn,
                                                          spdlog::level::err};
  state().logger->log(kLevels[static_cast<int>(level)], "{}", message);
}

namespace {

// Hands each record's text (without the pattern's decorations) to a listener.
class ListenerSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit ListenerSink(LogListener listener) : listener_(std::move(listener)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const LogLevel level = msg.level <= spdlog::level::debug ? LogLevel::kDebug
                           : msg.level == spdlog::level::info ? LogLevel::kInfo
                           : msg.level == spdlog::level::warn ? LogLevel::kWarn
                                                              : LogLevel::kError;
    listener_(level, std::string(msg.payload.data(), msg.payload.size()));
  }
  void flush_() override {}

 private:
  LogListener listener_;
};

spdlog::level::level_enum to_spdlog(LogLevel level) {
  static constexpr spdlog::level::level_enum kLevels[] = {spdlog::level::debug, spdlog::level::info, spdlog::level::warn,
                                                          spdlog::level::err};
  return kLevels[static_cast<int>(level)];
}

}  // namespace

ScopedLogListener::ScopedLogListener(LogListener listener, LogLevel min_level) {
  auto sink = std::make_shared<ListenerSink>(std::move(listener));
  sink->set_level(to_spdlog(min_level));
  LoggingState& s = state();
  std::lock_guard<std::mutex> lock(s.listeners_mutex);
  s.listeners.push_back(sink);
  s.fan_out->add_sink(sink);
  sink_ = sink;
}

ScopedLogListener::~ScopedLogListener() {
  const spdlog::sink_ptr sink = std::static_pointer_cast<ListenerSink>(sink_);
  LoggingState& s = state();
  std::lock_guard<std::mutex> lock(s.listeners_mutex);
  s.listeners.erase(std::remove(s.listeners.begin(), s.listeners.end(), sink), s.listeners.end());
  s.fan_out->remove_sink(sink);
}

}  // namespace seedforge
