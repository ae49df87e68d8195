#include "train/train_options.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "train/projection_levels.h"
#include "train/schedule.h"

namespace seedforge {

namespace {

// Shortest exact spelling of a number in messages (1.5, 0.0001, -3).
template <typename T>
std::string num(T value) {
  std::string text = nlohmann::json(value).dump();
  if (text.size() > 2 && text.compare(text.size() - 2, 2, ".0") == 0) text.resize(text.size() - 2);
  return text;
}

template <typename T>
void at_least(const std::string& where, const char* key, T value, T lo) {
  if (!(value >= lo)) throw usage_error(where, ": ", key, " must be >= ", num(lo), ", got ", num(value));
}

}  // namespace

void validate_bitnet_options(const BitNetOptions& options, const std::string& where) {
  if (options.activation_bits != 0 && (options.activation_bits < 2 || options.activation_bits > 16)) {
    throw usage_error(where, ": bitnet.activation_bits must be 0 (off) or in [2, 16], got ", options.activation_bits);
  }
  if (options.scale_group < 0) throw usage_error(where, ": bitnet.scale_group must be >= 0, got ", options.scale_group);
  if (options.scale_group > 0 && !options.per_row_scale) {
    throw usage_error(where, ": bitnet.scale_group (", options.scale_group, ") needs bitnet.per_row_scale true");
  }
  if (options.max_level < 1 || options.max_level > kMaxWeightLevel) {
    throw usage_error(where, ": a projection's max level must be in [1, ", kMaxWeightLevel, "] (3 to ",
                      2 * kMaxWeightLevel + 1, " levels), got ", options.max_level);
  }
}

BitNetOptions bitnet_options(const TrainOptions& o) {
  BitNetOptions b;
  b.activation_bits = o.activation_bits;
  b.per_row_scale = o.per_row_scale;
  b.scale_group = o.scale_group;
  b.fp16_scales = o.fp16_scales;
  b.input_norm = o.input_norm;
  b.learned_scales = o.learned_scales;
  return b;
}

void validate_train_options(const TrainOptions& o, const std::string& where) {
  at_least(where, "bitnet.lr", o.lr, 0.0);
  at_least<int64_t>(where, "bitnet.epochs", o.epochs, 0);
  at_least<int64_t>(where, "bitnet.max_steps", o.max_steps, 0);
  at_least<int64_t>(where, "bitnet.batch_size", o.batch_size, 1);
  at_least<int64_t>(where, "bitnet.grad_accum", o.grad_accum, 1);
  at_least<int64_t>(where, "bitnet.seq_len", o.seq_len, 1);
  if (!(o.warmup_fraction >= 0.0 && o.warmup_fraction <= 1.0)) {
    throw usage_error(where, ": bitnet.warmup_fraction must be in [0, 1], got ", num(o.warmup_fraction));
  }
  check_lambda_schedule(o.schedule, where);
  check_lr_schedule(o.lr_schedule, where);
  at_least<int64_t>(where, "bitnet.lr_warmup_steps", o.lr_warmup_steps, 0);
  at_least(where, "bitnet.weight_decay", o.weight_decay, 0.0);
  if (!(o.beta1 >= 0.0 && o.beta1 < 1.0)) throw usage_error(where, ": bitnet.beta1 must be in [0, 1), got ", num(o.beta1));
  if (!(o.beta2 >= 0.0 && o.beta2 < 1.0)) throw usage_error(where, ": bitnet.beta2 must be in [0, 1), got ", num(o.beta2));
  at_least(where, "bitnet.grad_clip", o.grad_clip, 0.0);
  validate_bitnet_options(bitnet_options(o), where);
  parse_projection_levels(o.projection_levels, where);
  at_least(where, "bitnet.kd_weight", o.kd_weight, 0.0);
  if (!(o.kd_temperature > 0.0)) {
    throw usage_error(where, ": bitnet.kd_temperature must be > 0, got ", num(o.kd_temperature));
  }
  at_least<int64_t>(where, "bitnet.teacher_top_k", o.teacher_top_k, 0);
  at_least<int64_t>(where, "bitnet.teacher_cache_mb", o.teacher_cache_mb, 0);
  at_least<int64_t>(where, "bitnet.synthetic_tokens", o.synthetic_tokens, 0);
  if (!(o.synthetic_temperature > 0.0)) {
    throw usage_error(where, ": bitnet.synthetic_temperature must be > 0, got ", num(o.synthetic_temperature));
  }
  at_least<int64_t>(where, "bitnet.eval_every", o.eval_every, 0);
  at_least<int64_t>(where, "bitnet.checkpoint_every", o.checkpoint_every, 0);
  if (!(o.valid_fraction >= 0.0 && o.valid_fraction < 1.0)) {
    throw usage_error(where, ": bitnet.valid_fraction must be in [0, 1), got ", num(o.valid_fraction));
  }
  if ((o.checkpoint_every > 0 || o.resume) && o.checkpoint_dir.empty()) {
    throw usage_error(where, ": bitnet.checkpoint_dir must be set to ", o.resume ? "resume" : "write checkpoints");
  }
  if (o.device != "cpu" && o.device != "cuda") {
    throw usage_error(where, ": hardware.device must be \"cpu\" or \"cuda\", got \"", o.device, "\"");
  }
  if (!(o.max_vram_gb > 0.0)) throw usage_error(where, ": hardware.max_vram_gb must be > 0, got ", num(o.max_vram_gb));
  at_least(where, "hardware.threads", o.threads, 0);
  at_least<int64_t>(where, "eval_max_docs", o.eval_max_docs, 0);
}

std::string train_options_json(const TrainOptions& o) {
  nlohmann::ordered_json j = {
      {"lr", o.lr}, {"epochs", o.epochs}, {"max_steps", o.max_steps}, {"batch_size", o.batch_size},
      {"grad_accum", o.grad_accum}, {"seq_len", o.seq_len}, {"warmup_fraction", o.warmup_fraction},
      {"schedule", o.schedule}, {"lr_schedule", o.lr_schedule}, {"lr_warmup_steps", o.lr_warmup_steps},
      {"weight_decay", o.weight_decay}, {"beta1", o.beta1}, {"beta2", o.beta2}, {"grad_clip", o.grad_clip},
      {"activation_bits", o.activation_bits}, {"per_row_scale", o.per_row_scale}, {"scale_group", o.scale_group},
      {"fp16_scales", o.fp16_scales}, {"input_norm", o.input_norm},
      {"kd_weight", o.kd_weight}, {"kd_temperature", o.kd_temperature},
      {"teacher_top_k", o.teacher_top_k}, {"seed", o.seed},
      {"valid_fraction", o.valid_fraction}, {"synthetic_tokens", o.synthetic_tokens},
      {"synthetic_temperature", o.synthetic_temperature}};
  return j.dump();
}

}  // namespace seedforge
