#include "eval/progress.h"

#include <unistd.h>

#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace seedforge {

ProgressIndicator::ProgressIndicator(std::string label, double delay_seconds, std::ostream* out, int terminal)
    : label_(std::move(label)), delay_seconds_(delay_seconds), out_(out != nullptr ? out : &std::cerr) {
  terminal_ = terminal >= 0 ? terminal != 0 : (out_ == &std::cerr && isatty(fileno(stderr)) != 0);
  start_ = last_ = std::chrono::steady_clock::now();
}

ProgressIndicator::~ProgressIndicator() { finish(); }

void ProgressIndicator::update(int64_t done, int64_t total) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const bool last = done >= total;
  if (elapsed < delay_seconds_) return;
  if (printed_ && !last && std::chrono::duration<double>(now - last_).count() < 1.0) return;
  last_ = now;
  printed_ = true;
  const double pct = total > 0 ? 100.0 * double(done) / double(total) : 100.0;
  std::ostringstream line;  // formatted apart so that the stream's flags stay as they were
  line << (terminal_ ? "\r" : "") << label_ << " " << done << "/" << total << " (" << std::fixed
       << std::setprecision(0) << pct << "%, " << std::setprecision(1) << elapsed << " s)" << (terminal_ ? "" : "\n");
  *out_ << line.str() << std::flush;
}

void ProgressIndicator::finish() {
  if (printed_ && terminal_) *out_ << "\n" << std::flush;
  printed_ = false;
}

std::function<void(int64_t, int64_t)> ProgressIndicator::callback() {
  return [this](int64_t done, int64_t total) { update(done, total); };
}

}  // namespace seedforge
