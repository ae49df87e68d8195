// run_stage1(): the whole Stage-1 pipeline as one C++ call.
//
// Stages, in order, each logged with its duration:
//   load -> baseline evaluation -> BitNet conversion and fine-tuning ->
//   encoding -> write (temporary name, renamed when complete) ->
//   reload the written file and evaluate it -> check constraints -> report.
#pragma once

#include <string>

#include "config/stage1_config.h"
#include "pipeline/stage1_report.h"

namespace seedforge {

struct Stage1RunOptions {
  std::string report_path;   // "" = <output>.report.json
  bool resume = false;       // continue fine-tuning from the last checkpoint
  bool verbose = false;
};

// Throws usage_error (bad config, output folder missing/read-only: checked
// before any work) or input_error/runtime_error. Constraint failures are not
// errors: the report says which failed and by how much.
Stage1Report run_stage1(const std::string& input, const std::string& output, const Stage1Config& config,
                        const Stage1RunOptions& options = {});

}  // namespace seedforge
