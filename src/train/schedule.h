// The two schedules of BitNet fine-tuning, as pure functions of the step.
// Torch-free.
//
// Steps are optimizer steps, counted from 0; total = the run's number of steps.
//
// Quantization strength lambda (the share of the quantization error applied,
// see bit_linear.h), with W = warmup_fraction * total warm-up steps:
//   "linear":   lambda = min(1, step / W)
//   "sigmoid":  p = min(1, step / W); lambda = (s(p) - s(0)) / (s(1) - s(0)),
//               s(p) = 1 / (1 + exp(-kSigmoidSharpness * (p - 0.5))): the same
//               end points as "linear" (0 at step 0, 1 from step W on) but a slow
//               start and finish around a steep middle
//   "constant": lambda = 1 from the first step (quantization-aware training
//               without warm-up)
// warmup_fraction = 0 makes every schedule constant 1.
//
// Learning rate: linear warm-up from base/lr_warmup_steps to base over the first
// lr_warmup_steps steps, then
//   "cosine":   base * 0.5 * (1 + cos(pi * q)), q = (step - warm-up) / (total - warm-up),
//               which decays to 0 at the end of the run
//   "constant": base
#pragma once

#include <cstdint>
#include <string>

namespace seedforge {

inline constexpr double kSigmoidSharpness = 10.0;

// Throws usage_error naming `where` for an unknown schedule name.
void check_lambda_schedule(const std::string& name, const std::string& where);
void check_lr_schedule(const std::string& name, const std::string& where);

double lambda_at(int64_t step, int64_t total_steps, double warmup_fraction, const std::string& schedule);
double lr_at(int64_t step, int64_t total_steps, double base_lr, int64_t warmup_steps, const std::string& schedule);

}  // namespace seedforge
