#include "train/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace seedforge {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  char buffer[32];
  if (s >= 3600) {
    std::snprintf(buffer, sizeof(buffer), "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  } else if (s >= 60) {
    std::snprintf(buffer, sizeof(buffer), "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  } else {
    std::snprintf(buffer, sizeof(buffer), "%llds", (long long)s);
  }
  return buffer;
}

std::string format_step(const StepReport& r) {
  char buffer[256];
  std::snprintf(buffer, sizeof(buffer), "step %lld/%lld lambda %.3f loss %.4f lr %.2e %.0f tok/s ETA %s",
                (long long)r.step, (long long)r.total_steps, r.lambda, r.loss, r.lr, r.tokens_per_second,
                format_duration(r.eta_seconds).c_str());
  return buffer;
}

ProgressPrinter::ProgressPrinter(std::FILE* out, bool bar, int64_t every)
    : out_(out), bar_(bar), every_(std::max<int64_t>(1, every)) {}

ProgressPrinter ProgressPrinter::for_stream(std::FILE* out, int64_t total_steps) {
  return ProgressPrinter(out, isatty(fileno(out)) != 0, std::max<int64_t>(1, total_steps / 50));
}

void ProgressPrinter::step(const StepReport& r) {
  if (bar_) {
    constexpr int kWidth = 24;
    const double done = r.total_steps > 0 ? double(r.step) / double(r.total_steps) : 0.0;
    const int filled = std::clamp(static_cast<int>(done * kWidth), 0, kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(kWidth - filled), '.');
    std::fprintf(out_, "\r\033[K[%s] %s", bar.c_str(), format_step(r).c_str());
    bar_drawn_ = true;
  } else if (r.step % every_ == 0 || r.step == r.total_steps || r.step == 1) {
    std::fprintf(out_, "%s ce %.4f kd %.4f |g| %.3f\n", format_step(r).c_str(), r.ce, r.kd, r.grad_norm);
  }
  std::fflush(out_);
}

void ProgressPrinter::message(const std::string& text) {
  if (bar_drawn_) std::fprintf(out_, "\r\033[K");
  std::fprintf(out_, "%s\n", text.c_str());
  bar_drawn_ = false;
  std::fflush(out_);
}

void ProgressPrinter::finish() {
  if (bar_drawn_) std::fprintf(out_, "\n");
  bar_drawn_ = false;
  std::fflush(out_);
}

}  // namespace seedforge
