// Number formatting for log lines and reports, without a formatting library:
// code that includes libtorch must not include spdlog/fmt (see
// telemetry/logging.h), so these stay plain iostream.
#pragma once

#include <string>

namespace seedforge {

// 0.51413 with digits = 5; "nan"/"inf" as the stream writes them.
std::string fixed(double value, int digits);
// 5.00e-03 with digits = 2.
std::string scientific(double value, int digits);

}  // namespace seedforge
