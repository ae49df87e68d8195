// Fine-tuning checkpoints: everything needed to continue a run exactly where it
// stopped. Internal files (not a user-facing .pt): a libtorch serialize
// archive (torch::serialize::OutputArchive, a TorchScript zip) with the keys
//
//   format        str   "seedforge.bitnet.checkpoint"
//   version       int   1
//   fingerprint   str   the caller's fingerprint of the settings that shape the model
//   options       str   train_options_json() of the run (for people reading it)
//   step          int   optimizer steps done
//   total_steps   int   the run's planned steps (the schedules depend on it)
//   param_names   List[str]     latent parameter names (canonical HF names)
//   param_values  List[Tensor]  the latent parameters, fp32, CPU, same order
//   losses        Tensor  [step] fp64, the loss of every step so far
//   rng_cpu       Tensor  libtorch's CPU generator state
//   world_size    int     data-parallel ranks of the run (absent = 1; src/dist/)
//   optimizer     archive AdamW's state (moments, step counts), Optimizer::save()
//
// Written to a temporary name and renamed, so that a crash while saving leaves
// the previous checkpoint intact.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "model/transformer.h"

namespace seedforge {

inline constexpr const char* kCheckpointFormat = "seedforge.bitnet.checkpoint";
inline constexpr int64_t kCheckpointVersion = 1;

struct TrainCheckpoint {
  std::string fingerprint;
  std::string options_json;
  int64_t step = 0;
  int64_t total_steps = 0;
  StateDict params;
  std::vector<double> losses;
  torch::Tensor rng_cpu;
  int64_t world_size = 1;  // ranks that shared each step's windows
};

// <dir>/bitnet_checkpoint.pt
std::string checkpoint_file(const std::string& dir);

// Atomic (temporary name + rename). optimizer null: none saved (the
// block-wise trainer's checkpoints, taken between blocks, have none).
void save_train_checkpoint(const std::string& path, const TrainCheckpoint& checkpoint,
                           torch::optim::Optimizer* optimizer);
// Reads and validates every key (input_error naming the path and key); loads
// the optimizer state into `optimizer` when it is not null.
TrainCheckpoint load_train_checkpoint(const std::string& path, torch::optim::Optimizer* optimizer);

}  // namespace seedforge
