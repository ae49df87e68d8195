#include "train/options_from_config.h"

#include "common/error.h"

namespace seedforge {

TrainOptions train_options_from_config(const Stage1Config& config) {
  const BitnetConfig& b = config.bitnet;
  TrainOptions o;
  o.lr = b.lr;
  o.epochs = b.epochs;
  o.max_steps = b.max_steps;
  o.batch_size = b.batch_size;
  o.grad_accum = b.grad_accum;
  o.seq_len = b.seq_len;
  o.warmup_fraction = b.warmup_fraction;
  o.schedule = to_string(b.schedule);
  o.lr_schedule = to_string(b.lr_schedule);
  o.lr_warmup_steps = b.lr_warmup_steps;
  o.weight_decay = b.weight_decay;
  o.beta1 = b.beta1;
  o.beta2 = b.beta2;
  o.grad_clip = b.grad_clip;
  o.activation_bits = b.activation_bits;
  o.per_row_scale = b.per_row_scale;
  o.scale_group = b.scale_group;
  o.fp16_scales = config.encoding.ternary_scale == ScaleEncoding::kFp16;
  o.input_norm = b.input_norm;
  o.projection_levels = b.projection_levels;
  o.learned_scales = b.learned_scales;
  o.kd_weight = b.kd_weight;
  o.kd_temperature = b.kd_temperature;
  o.teacher_top_k = b.teacher_top_k;
  o.teacher_cache_mb = b.teacher_cache_mb;
  o.seed = b.seed;
  o.eval_every = b.eval_every;
  o.checkpoint_every = b.checkpoint_every;
  o.checkpoint_dir = b.checkpoint_dir;
  o.valid_fraction = b.valid_fraction;
  o.synthetic_tokens = b.synthetic_tokens;
  o.synthetic_temperature = b.synthetic_temperature;
  o.mode = b.mode;
  o.block_windows = b.block_windows;
  o.block_steps = b.block_steps;
  o.block_inputs = b.block_inputs;
  o.e2e_steps = b.e2e_steps;
  o.device = to_string(config.hardware.device);
  o.max_vram_gb = config.hardware.max_vram_gb;
  o.threads = config.hardware.threads;
  o.backend = config.hardware.backend;
  o.dist_timeout_s = config.hardware.dist_timeout_s;
  o.dist_bucket_mb = config.hardware.dist_bucket_mb;
  o.loss_chunk_tokens = config.hardware.loss_chunk_tokens;
  o.fingerprint = config_fingerprint(config);
  return o;
}

std::string fit_global_batch(TrainOptions& options, int planned_ranks, int world_size) {
  if (planned_ranks < 1 || world_size < 1) {
    throw usage_error("fit_global_batch: ranks must be >= 1, got ", planned_ranks, " planned and ", world_size, " running");
  }
  options.world_size = world_size;
  if (world_size == planned_ranks) return "";
  const int64_t micro_batches = options.grad_accum * planned_ranks;  // of batch_size windows, a step
  const int64_t global = micro_batches * options.batch_size;
  const std::string ranks = concat(world_size, world_size == 1 ? " process" : " ranks");
  if (micro_batches % world_size == 0) {
    const int64_t was = options.grad_accum;
    options.grad_accum = micro_batches / world_size;
    return concat("hardware.processes plans ", planned_ranks, " ranks, this run has ", ranks, ": bitnet.grad_accum ", was,
                  " -> ", options.grad_accum, " keeps the global batch of ", global, " windows a step");
  }
  return concat("hardware.processes plans ", planned_ranks, " ranks, this run has ", ranks, ", which do not divide its ",
                micro_batches, " micro-batches a step: the global batch is ",
                options.grad_accum * world_size * options.batch_size, " windows a step instead of ", global);
}

}  // namespace seedforge
