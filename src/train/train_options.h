// TrainOptions: every knob of BitNet fine-tuning. The fields mirror the Stage-1
// config's "bitnet" and "hardware" sections (same names, same defaults; see
// docs/CONFIG.md), plus a few run-time settings that are not part of a config.
// Torch-free.
#pragma once

#include <cstdint>
#include <string>

#include "train/bit_linear_options.h"

namespace seedforge {

struct TrainOptions {
  // "bitnet" section.
  double lr = 1e-4;
  int64_t epochs = 2;
  int64_t max_steps = 0;  // optimizer steps; 0 = run `epochs` epochs
  int64_t batch_size = 2;  // sequences per micro-batch
  int64_t grad_accum = 4;  // micro-batches per optimizer step
  int64_t seq_len = 256;   // tokens per training window
  double warmup_fraction = 0.4;     // share of the steps over which lambda ramps 0 -> 1
  std::string schedule = "linear";  // lambda: "linear", "sigmoid", "constant" (schedule.h)
  std::string lr_schedule = "cosine";  // "cosine", "constant"
  int64_t lr_warmup_steps = 0;
  double weight_decay = 0.0;  // AdamW, on matrices only (not on norm weights or biases)
  double beta1 = 0.9;
  double beta2 = 0.95;
  double grad_clip = 1.0;  // max global gradient L2 norm; 0 = no clipping
  int activation_bits = 8;     // 0 = off
  bool per_row_scale = false;
  int64_t scale_group = 0;     // with per_row_scale: one scale per this many input columns; 0 = per row
  bool fp16_scales = false;    // the config's encoding.ternary_scale "fp16"
  bool input_norm = false;
  // "PATTERN:LEVELS" entries: projections that keep more levels than three
  // (projection_levels.h); empty = all ternary.
  std::vector<std::string> projection_levels;
  bool learned_scales = false;  // BitNetOptions::learned_scales
  double kd_weight = 0.0;  // loss = CE + kd_weight * T^2 * KL(teacher || student); 0 = off
  double kd_temperature = 1.0;
  // Distillation targets: 0 = the teacher's full distribution; k > 0 = its k
  // most likely tokens and the mass of the rest (teacher_targets.h).
  int64_t teacher_top_k = 0;
  uint64_t seed = 1234;
  int64_t eval_every = 0;        // steps; 0 = no periodic validation
  int64_t checkpoint_every = 0;  // steps; 0 = no checkpoints
  std::string checkpoint_dir;    // where bitnet_checkpoint.pt goes (required when checkpointing or resuming)
  double valid_fraction = 0.0;   // share of the training documents held out for validation
  // Tokens sampled from the original model and added to the training text
  // (synthetic_data.h); 0 = none.
  int64_t synthetic_tokens = 0;
  double synthetic_temperature = 1.0;
  // Block-wise fine-tuning (blockwise.h); mode "end_to_end" ignores the rest.
  std::string mode = "end_to_end";
  int64_t block_windows = 256;
  int64_t block_steps = 200;
  std::string block_inputs = "converted";
  int64_t e2e_steps = 0;

  // "hardware" section.
  std::string device = "cpu";  // "cpu" or "cuda"
  double max_vram_gb = 16.0;   // checked against the memory estimate on CUDA
  int threads = 0;             // the caller configures threads; kept for the record
  std::string backend = "auto";  // c10d backend of a data-parallel run (src/dist/)
  double dist_timeout_s = 300.0; // how long a collective waits for a peer rank
  // Gradient buckets (fp32 MB) whose all-reduces overlap backward
  // (dist/gradient_buckets.h); 0 = one all-reduce after backward; -1 = auto
  // (auto_bucket_bytes).
  double dist_bucket_mb = -1.0;
  // The head's loss (and the teacher's top-k targets) this many tokens at a
  // time (chunked_head_loss.h): 0 = the whole micro-batch at once; -1 = auto,
  // chunks of 128 MiB of fp32 logits when the micro-batch's are larger.
  int64_t loss_chunk_tokens = -1;

  // Run-time settings (not in the config file).
  // Data-parallel ranks (src/dist/): each step takes world_size * grad_accum *
  // batch_size windows, each rank grad_accum * batch_size of them.
  int world_size = 1;
  bool resume = false;       // continue from <checkpoint_dir>/bitnet_checkpoint.pt
  std::string fingerprint;   // stored in checkpoints; resume refuses a different one
  int64_t eval_max_docs = 0; // periodic validation on the first N documents (0 = all)
  int bf16 = -1;                      // mixed precision: -1 = on for CUDA only, 0 off, 1 on
  int activation_checkpointing = -1;  // per block: -1 = on for CUDA only, 0 off, 1 on
  // Host memory for the teacher's targets of every training window (CPU runs
  // with distillation): the teacher is frozen, so epochs after the first reuse
  // them instead of running it again. The first windows that fit are cached,
  // the teacher runs again for the rest; 0 = never cache. Never changes the result.
  int64_t teacher_cache_mb = 1024;
  // The CPU attention kernel (train_forward.h) where it applies; false = the
  // GEMM form everywhere (for comparisons).
  bool attention_kernel = true;
};

BitNetOptions bitnet_options(const TrainOptions& options);

// Range checks, before any work: usage_error "<where>: bitnet.<key> must be .., got ..".
void validate_train_options(const TrainOptions& options, const std::string& where);

// "linear" / "sigmoid" / ... spelled as the config spells them; one JSON object of
// the fields that shape the trained model (stored in checkpoints and model files).
std::string train_options_json(const TrainOptions& options);

}  // namespace seedforge
