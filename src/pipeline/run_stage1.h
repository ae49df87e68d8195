// run_stage1(): the whole Stage-1 pipeline as one C++ call.
//
// Stages, in order, each logged with its duration:
//   load -> baseline evaluation -> BitNet conversion and fine-tuning ->
//   encoding -> compressed evaluation (the encoded model, in memory) ->
//   write (temporary name, renamed when complete) ->
//   reload the written file and evaluate it -> check constraints -> report.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "config/stage1_config.h"
#include "pipeline/stage1_report.h"

namespace seedforge {

// What a progress callback is told: either one line of the run's log (info
// level and above, as the console shows them) or one fine-tuning step's
// figures (step > 0, line empty).
struct Stage1Progress {
  std::string line;
  int64_t step = 0, total_steps = 0;
  double loss = 0, lambda = 0, lr = 0;  // lambda: quantization strength, 0..1
  double tokens_per_second = 0, eta_seconds = 0;
};

struct Stage1RunOptions {
  std::string report_path;   // "" = <output>.report.json
  bool resume = false;       // continue fine-tuning from the last checkpoint
  bool verbose = false;
  // Called on the thread that logs or steps; empty = none. Must not throw: to
  // stop the run from it, call request_interrupt() (common/interrupt.h).
  std::function<void(const Stage1Progress&)> progress;
};

// Throws usage_error (bad config, output folder missing/read-only: checked
// before any work) or input_error/runtime_error. Constraint failures are not
// errors: the report says which failed and by how much.
Stage1Report run_stage1(const std::string& input, const std::string& output, const Stage1Config& config,
                        const Stage1RunOptions& options = {});

}  // namespace seedforge
