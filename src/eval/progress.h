// A plain progress indicator for evaluations that take more than a few
// seconds: nothing until `delay_seconds` have passed (quick runs stay quiet),
// then "label done/total (pct%)" at most once a second: rewritten in place
// with '\r' when the stream is a terminal, else one line each (logs, pipes).
// Torch-free.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

namespace seedforge {

class ProgressIndicator {
 public:
  // `out` defaults to std::cerr; `terminal` says whether to use '\r' (by
  // default: whether stderr is a tty when out is std::cerr, else false).
  explicit ProgressIndicator(std::string label, double delay_seconds = 3.0, std::ostream* out = nullptr,
                             int terminal = -1);
  ~ProgressIndicator();

  void update(int64_t done, int64_t total);
  // Ends a '\r' line with a newline (if anything was printed).
  void finish();
  // update() as a callback for the evaluation options.
  std::function<void(int64_t, int64_t)> callback();

 private:
  std::string label_;
  double delay_seconds_;
  std::ostream* out_;
  bool terminal_;
  bool printed_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace seedforge
