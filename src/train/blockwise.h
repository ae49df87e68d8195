// Block-wise ternary fine-tuning (bitnet.mode "blockwise"): EfficientQAT's
// Block-AP (Chen et al., arXiv 2407.11062) adapted to BitNet b1.58, for
// models whose end-to-end fine-tuning does not fit one GPU.
//
// N calibration windows (bitnet.block_windows, the first N of the training
// windows in the trainer's shuffled order) are embedded once. Then for each
// transformer block l in order:
//   inputs  X_l   [N, T, C]: the outputs of the blocks already converted
//                 (block_inputs "converted") or of the original's blocks
//                 ("original"); X_0 is the embedding of the windows;
//   targets Y_l = original block l (X_l), no gradient;
//   training: block_steps AdamW steps on the student block's BitLinear
//                 latent weights and norms, loss = mean squared error between
//                 the student block's output and Y_l over batch_size windows,
//                 lambda ramping 0 -> 1 over warmup_fraction of the block's
//                 steps and the learning rate following lr_schedule, both per
//                 block; 8-bit activations as end-to-end;
//   then the block is fixed at lambda = 1 and frozen, and X_{l+1} = student
//   block l (X_l).
// Only one block trains at a time: on CUDA only that block (student and
// original) is on the device with a batch of X_l and Y_l; X and Y live in
// host memory (2 N T C elements, bf16 with bf16 on).
//
// Each block's windows come from a sampler seeded by (seed, l): a run
// resumed after block k (bitnet_blockwise.pt in checkpoint_dir, written
// after every block when checkpoint_every > 0) recomputes X_k through the
// frozen blocks and continues exactly as the uninterrupted run.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "model/transformer.h"
#include "train/train_data.h"
#include "train/train_options.h"

namespace seedforge {

struct BlockReport {
  int64_t block = 0;
  // The block's loss at lambda 1 on its first min(N, 32) calibration
  // windows: with plain ternary rounding of the original (before its steps)
  // and after them.
  double rounded_mse = 0.0, trained_mse = 0.0;
  double seconds = 0.0;
};

struct BlockwiseHooks {
  std::function<void(const std::string&)> log;
  std::function<void(const BlockReport&)> on_block;
  // Polled after every block but the last: true stops there (a checkpoint
  // of the finished blocks is written first when checkpoint_dir is set).
  std::function<bool()> stop_requested;
};

struct BlockwiseResult {
  std::vector<BlockReport> blocks;  // trained in this run
  int64_t start_block = 0;          // > 0 after a resume
  int64_t stopped_after = -1;       // blocks done when stopped early, else -1
  int64_t train_tokens = 0;         // window tokens through the trained blocks
  double seconds = 0.0;
  std::string checkpoint_path;
};

// The checkpoint file of a block-wise run in `checkpoint_dir`.
std::string blockwise_checkpoint_file(const std::string& checkpoint_dir);

// Trains `student` (convert_to_bitnet()-ed with bitnet_options(options), of
// the same shape as `original`, a dense model) block by block in place.
// Leaves every BitLinear at lambda 1 and the trained blocks frozen
// (requires_grad false). Throws usage_error on bad options before any work.
BlockwiseResult train_blockwise(Transformer& student, Transformer& original, const TrainData& data,
                                const TrainOptions& options, const BlockwiseHooks& hooks = {});

// One block's loss, the quantity its steps minimize: the mean over elements
// of (student block l (x) - y)^2; x, y [B, T, C]. Differentiable in the
// block's parameters.
torch::Tensor block_mse(Transformer& student, int64_t layer, const torch::Tensor& x, const torch::Tensor& y,
                        bool attention_kernel = true);

}  // namespace seedforge
