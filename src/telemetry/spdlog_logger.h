// The project's spdlog logger itself (see logging.h), for torch-free code.
#pragma once

#include <memory>

#include <spdlog/logger.h>

#include "telemetry/logging.h"

namespace seedforge {

// The logger (also spdlog's default logger, so spdlog::info(...) goes here).
std::shared_ptr<spdlog::logger> log();

}  // namespace seedforge
