// TrainOptions from a Stage-1 config: the "bitnet" and "hardware" sections,
// key for key, and the config's fingerprint for checkpoints. Torch-free.
#pragma once

#include "config/stage1_config.h"
#include "train/train_options.h"

namespace seedforge {

// train_text and the data folder are resolved by the caller; checkpoint_dir is
// copied as is ("" = the caller decides).
TrainOptions train_options_from_config(const Stage1Config& config);

}  // namespace seedforge
