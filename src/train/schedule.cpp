#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace seedforge {

namespace {
double sigmoid(double p) { return 1.0 / (1.0 + std::exp(-kSigmoidSharpness * (p - 0.5))); }
}  // namespace

void check_lambda_schedule(const std::string& name, const std::string& where) {
  if (name != "linear" && name != "sigmoid" && name != "constant") {
    throw usage_error(where, ": bitnet.schedule must be \"linear\", \"sigmoid\" or \"constant\", got \"", name, "\"");
  }
}

void check_lr_schedule(const std::string& name, const std::string& where) {
  if (name != "cosine" && name != "constant") {
    throw usage_error(where, ": bitnet.lr_schedule must be \"cosine\" or \"constant\", got \"", name, "\"");
  }
}

double lambda_at(int64_t step, int64_t total_steps, double warmup_fraction, const std::string& schedule) {
  check_lambda_schedule(schedule, "lambda_at");
  const double warmup = warmup_fraction * double(total_steps);
  if (schedule == "constant" || warmup <= 0.0) return 1.0;
  const double p = std::min(1.0, double(step) / warmup);
  if (schedule == "linear") return p;
  return (sigmoid(p) - sigmoid(0.0)) / (sigmoid(1.0) - sigmoid(0.0));
}

double lr_at(int64_t step, int64_t total_steps, double base_lr, int64_t warmup_steps, const std::string& schedule) {
  check_lr_schedule(schedule, "lr_at");
  if (step < warmup_steps) return base_lr * double(step + 1) / double(warmup_steps);
  if (schedule == "constant") return base_lr;
  const double span = double(std::max<int64_t>(1, total_steps - warmup_steps));
  const double q = std::min(1.0, double(step - warmup_steps) / span);
  return base_lr * 0.5 * (1.0 + std::cos(M_PI * q));
}

}  // namespace seedforge
