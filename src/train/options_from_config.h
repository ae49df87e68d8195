// TrainOptions from a Stage-1 config: the "bitnet" and "hardware" sections,
// key for key, and the config's fingerprint for checkpoints. Torch-free.
#pragma once

#include "config/stage1_config.h"
#include "train/train_options.h"

namespace seedforge {

// train_text and the data folder are resolved by the caller; checkpoint_dir is
// copied as is ("" = the caller decides).
TrainOptions train_options_from_config(const Stage1Config& config);

// Sets options.world_size to the ranks this run has, keeping the global batch
// the config plans for (batch_size x grad_accum x `planned_ranks` windows a
// step, hardware.processes) where the ranks divide it: grad_accum becomes
// grad_accum x planned_ranks / world_size. One process alone (run_stage1()
// from Python, `stage1 --nproc 1`) so trains the windows of a two-rank run
// with twice the micro-batches, the same steps bit for bit (trainer.h).
// Returns what it changed, or that the global batch differs, for the log;
// "" when the run has the planned ranks.
std::string fit_global_batch(TrainOptions& options, int planned_ranks, int world_size);

}  // namespace seedforge
