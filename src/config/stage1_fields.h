// The one list of Stage1Config's JSON keys, shared by the reader and the
// writer so that the two can never disagree (internal to src/config).
//
// A visitor provides section(name) and field(key, member) for double, bool,
// std::string, std::vector<std::string>, int, int64_t, uint64_t and the enums of stage1_config.h.
#pragma once

#include <utility>
#include <vector>

#include "config/stage1_config.h"

namespace seedforge {

// (value, JSON spelling) tables; the first entry is not special.
const std::vector<std::pair<LambdaSchedule, const char*>>& enum_names(LambdaSchedule);
const std::vector<std::pair<LrSchedule, const char*>>& enum_names(LrSchedule);
const std::vector<std::pair<TernaryEncoding, const char*>>& enum_names(TernaryEncoding);
const std::vector<std::pair<FloatEncoding, const char*>>& enum_names(FloatEncoding);
const std::vector<std::pair<VectorEncoding, const char*>>& enum_names(VectorEncoding);
const std::vector<std::pair<ScaleEncoding, const char*>>& enum_names(ScaleEncoding);
const std::vector<std::pair<Device, const char*>>& enum_names(Device);

// Config is Stage1Config (reading) or const Stage1Config (writing).
template <typename Visitor, typename Config>
void visit_stage1_fields(Visitor& v, Config& c) {
  v.section("bitnet");
  v.field("lr", c.bitnet.lr);
  v.field("epochs", c.bitnet.epochs);
  v.field("max_steps", c.bitnet.max_steps);
  v.field("batch_size", c.bitnet.batch_size);
  v.field("grad_accum", c.bitnet.grad_accum);
  v.field("seq_len", c.bitnet.seq_len);
  v.field("warmup_fraction", c.bitnet.warmup_fraction);
  v.field("schedule", c.bitnet.schedule);
  v.field("lr_schedule", c.bitnet.lr_schedule);
  v.field("lr_warmup_steps", c.bitnet.lr_warmup_steps);
  v.field("weight_decay", c.bitnet.weight_decay);
  v.field("beta1", c.bitnet.beta1);
  v.field("beta2", c.bitnet.beta2);
  v.field("grad_clip", c.bitnet.grad_clip);
  v.field("activation_bits", c.bitnet.activation_bits);
  v.field("per_row_scale", c.bitnet.per_row_scale);
  v.field("scale_group", c.bitnet.scale_group);
  v.field("input_norm", c.bitnet.input_norm);
  v.field("projection_levels", c.bitnet.projection_levels);
  v.field("learned_scales", c.bitnet.learned_scales);
  v.field("kd_weight", c.bitnet.kd_weight);
  v.field("kd_temperature", c.bitnet.kd_temperature);
  v.field("teacher_top_k", c.bitnet.teacher_top_k);
  v.field("teacher_cache_mb", c.bitnet.teacher_cache_mb);
  v.field("seed", c.bitnet.seed);
  v.field("eval_every", c.bitnet.eval_every);
  v.field("checkpoint_every", c.bitnet.checkpoint_every);
  v.field("checkpoint_dir", c.bitnet.checkpoint_dir);
  v.field("train_text", c.bitnet.train_text);
  v.field("token_cache_dir", c.bitnet.token_cache_dir);
  v.field("valid_fraction", c.bitnet.valid_fraction);
  v.field("float_freeze_fraction", c.bitnet.float_freeze_fraction);
  v.field("mode", c.bitnet.mode);
  v.field("block_windows", c.bitnet.block_windows);
  v.field("block_steps", c.bitnet.block_steps);
  v.field("block_inputs", c.bitnet.block_inputs);
  v.field("e2e_steps", c.bitnet.e2e_steps);
  v.field("synthetic_tokens", c.bitnet.synthetic_tokens);
  v.field("synthetic_temperature", c.bitnet.synthetic_temperature);

  v.section("seedlm");
  v.field("block_size", c.seedlm.block_size);
  v.field("latent_dim", c.seedlm.latent_dim);
  v.field("K", c.seedlm.K);
  v.field("Q", c.seedlm.Q);
  v.field("E", c.seedlm.E);
  v.field("seed_candidates", c.seedlm.seed_candidates);
  v.field("threads", c.seedlm.threads);

  v.section("encoding");
  v.field("ternary", c.encoding.ternary);
  v.field("float", c.encoding.float_matrices);
  v.field("vector", c.encoding.vector);
  v.field("ternary_scale", c.encoding.ternary_scale);

  v.section("eval");
  v.field("text", c.eval.text);
  v.field("max_docs", c.eval.max_docs);
  v.field("hellaswag", c.eval.hellaswag);
  v.field("hellaswag_max_tasks", c.eval.hellaswag_max_tasks);
  v.field("tokenizer", c.eval.tokenizer);

  v.section("constraints");
  v.field("target_compression_ratio", c.constraints.target_compression_ratio);
  v.field("max_accuracy_drop", c.constraints.max_accuracy_drop);

  v.section("hardware");
  v.field("device", c.hardware.device);
  v.field("max_vram_gb", c.hardware.max_vram_gb);
  v.field("threads", c.hardware.threads);
  v.field("processes", c.hardware.processes);
  v.field("backend", c.hardware.backend);
  v.field("dist_timeout_s", c.hardware.dist_timeout_s);
  v.field("dist_bucket_mb", c.hardware.dist_bucket_mb);
  v.field("loss_chunk_tokens", c.hardware.loss_chunk_tokens);

  v.section("output");
  v.field("log_file", c.output.log_file);
  v.field("metrics_file", c.output.metrics_file);
  v.field("pushgateway_url", c.output.pushgateway_url);
  v.field("metrics_port", c.output.metrics_port);
  v.field("metrics_host", c.output.metrics_host);
}

}  // namespace seedforge
