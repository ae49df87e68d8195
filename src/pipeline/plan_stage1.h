// --dry-run: what run_stage1 would do, without doing it. Reads the input's
// headers (no weights for a llama2.c file or a Hugging Face folder: seconds
// and megabytes whatever the model's size; a state dict holds its config only
// in its tensors and is read), decides every tensor's codec, measures the
// output size by writing a file of the same layout with zero payloads (to a
// temporary folder, then removed), estimates the memory of every phase, host
// and device (stage1_memory.h), and each stage's time: for a model up to
// 50 M parameters from short timed samples on a model of its shape (a few
// training micro-batches, one evaluation batch), for a larger one from its
// operation count at the measured matrix-multiply rate; SeedLM from a few
// hundred timed blocks.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/stage1_config.h"
#include "pipeline/stage1_memory.h"
#include "pipeline/stage1_report.h"
#include "train/memory_estimate.h"

namespace seedforge {

struct PlannedTensor {
  std::string name, codec;
  std::vector<int64_t> shape;
  int64_t bytes = 0;  // payload + scales
};

struct Stage1Plan {
  std::string input, output;
  int64_t input_bytes = 0, parameters = 0;
  std::vector<PlannedTensor> tensors;
  // The file's bytes with payloads that deflate no better than real ones:
  // about an upper bound (real files measured 0 to 15 % smaller; see plan_stage1.cpp).
  int64_t estimated_output_bytes = 0;
  double estimated_ratio = 0;
  MemoryEstimate memory;
  std::string memory_device;
  int64_t train_steps = 0, train_tokens = 0, eval_tokens = 0, seedlm_blocks = 0;
  int train_ranks = 1;  // hardware.processes: train_tokens is all ranks'
  std::vector<StageTiming> estimated_seconds;  // per stage
  std::string timing;                          // how the times were estimated
  std::vector<PhaseMemory> phases;             // host and device memory of each phase
  bool weights_read = false;                   // the format needed its weights for its config
  int threads = 0;
};

Stage1Plan plan_stage1(const std::string& input, const std::string& output, const Stage1Config& config);
std::string plan_markdown(const Stage1Plan& plan);
// The same plan as data (sizes in bytes, times in seconds); the Python
// module's run_stage1(dry_run=True) returns it.
nlohmann::json plan_json(const Stage1Plan& plan);

}  // namespace seedforge
