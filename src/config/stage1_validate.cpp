// validate(Stage1Config): the ranges documented in docs/CONFIG.md.
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "config/stage1_config.h"

namespace seedforge {

namespace {

// Numbers in messages in their shortest exact form (1.5, 0.0001, 3), as JSON
// writes them but without the ".0" that marks an integral double.
template <typename T>
std::string num(T value) {
  std::string text = nlohmann::json(value).dump();
  if (text.size() > 2 && text.compare(text.size() - 2, 2, ".0") == 0) text.resize(text.size() - 2);
  return text;
}

class Checker {
 public:
  explicit Checker(const std::string& where) : where_(where) {}

  template <typename T>
  void at_least(const char* key, T value, T lo) const {
    if (!(value >= lo)) throw usage_error(where_, ": ", key, " must be >= ", num(lo), ", got ", num(value));
  }
  template <typename T>
  void above(const char* key, T value, T lo) const {
    if (!(value > lo)) throw usage_error(where_, ": ", key, " must be > ", num(lo), ", got ", num(value));
  }
  // lo <= value <= hi
  template <typename T>
  void in_closed(const char* key, T value, T lo, T hi) const {
    if (!(value >= lo && value <= hi)) {
      throw usage_error(where_, ": ", key, " must be in [", num(lo), ", ", num(hi), "], got ", num(value));
    }
  }
  // lo <= value < hi
  void in_half_open(const char* key, double value, double lo, double hi) const {
    if (!(value >= lo && value < hi)) {
      throw usage_error(where_, ": ", key, " must be in [", num(lo), ", ", num(hi), "), got ", num(value));
    }
  }
  [[noreturn]] void fail(const std::string& message) const { throw usage_error(where_, ": ", message); }

 private:
  const std::string& where_;
};

}  // namespace

void validate(const Stage1Config& config, const std::string& where) {
  const Checker check(where);

  const BitnetConfig& b = config.bitnet;
  check.at_least("bitnet.lr", b.lr, 0.0);
  check.at_least<int64_t>("bitnet.epochs", b.epochs, 0);
  check.at_least<int64_t>("bitnet.max_steps", b.max_steps, 0);
  check.at_least<int64_t>("bitnet.batch_size", b.batch_size, 1);
  check.at_least<int64_t>("bitnet.grad_accum", b.grad_accum, 1);
  check.at_least<int64_t>("bitnet.seq_len", b.seq_len, 1);
  check.in_closed("bitnet.warmup_fraction", b.warmup_fraction, 0.0, 1.0);
  check.in_closed("bitnet.float_freeze_fraction", b.float_freeze_fraction, 0.0, 1.0);
  if (b.mode != "end_to_end" && b.mode != "blockwise") {
    check.fail(concat("bitnet.mode must be \"end_to_end\" or \"blockwise\", got \"", b.mode, "\""));
  }
  if (b.block_inputs != "converted" && b.block_inputs != "original") {
    check.fail(concat("bitnet.block_inputs must be \"converted\" or \"original\", got \"", b.block_inputs, "\""));
  }
  check.at_least("bitnet.block_windows", b.block_windows, int64_t(1));
  check.at_least("bitnet.block_steps", b.block_steps, int64_t(0));
  check.at_least("bitnet.e2e_steps", b.e2e_steps, int64_t(0));
  check.at_least<int64_t>("bitnet.lr_warmup_steps", b.lr_warmup_steps, 0);
  check.at_least("bitnet.weight_decay", b.weight_decay, 0.0);
  check.in_half_open("bitnet.beta1", b.beta1, 0.0, 1.0);
  check.in_half_open("bitnet.beta2", b.beta2, 0.0, 1.0);
  check.at_least("bitnet.grad_clip", b.grad_clip, 0.0);
  if (b.activation_bits != 0 && (b.activation_bits < 2 || b.activation_bits > 16)) {
    check.fail(concat("bitnet.activation_bits must be 0 (off) or in [2, 16], got ", b.activation_bits));
  }
  check.at_least<int64_t>("bitnet.scale_group", b.scale_group, 0);
  if (b.scale_group > 0 && !b.per_row_scale) {
    check.fail(concat("bitnet.scale_group (", b.scale_group, ") splits per-row scales: it needs bitnet.per_row_scale true"));
  }
  check.at_least("bitnet.kd_weight", b.kd_weight, 0.0);
  check.above("bitnet.kd_temperature", b.kd_temperature, 0.0);
  check.at_least<int64_t>("bitnet.teacher_top_k", b.teacher_top_k, 0);
  check.at_least<int64_t>("bitnet.teacher_cache_mb", b.teacher_cache_mb, 0);
  check.at_least<int64_t>("bitnet.eval_every", b.eval_every, 0);
  check.at_least<int64_t>("bitnet.checkpoint_every", b.checkpoint_every, 0);
  check.in_half_open("bitnet.valid_fraction", b.valid_fraction, 0.0, 1.0);
  check.at_least<int64_t>("bitnet.synthetic_tokens", b.synthetic_tokens, 0);
  check.above("bitnet.synthetic_temperature", b.synthetic_temperature, 0.0);

  const SeedlmConfig& s = config.seedlm;
  check.at_least("seedlm.block_size", s.block_size, 1);
  // P coefficients describe C weights; more coefficients than weights is no compression.
  check.in_closed("seedlm.latent_dim", s.latent_dim, 1, s.block_size);
  check.in_closed("seedlm.K", s.K, 2, 24);
  check.in_closed("seedlm.Q", s.Q, 2, 8);
  check.in_closed("seedlm.E", s.E, 2, 8);
  // A K-bit LFSR has 2^K - 1 non-zero seeds.
  check.in_closed<int64_t>("seedlm.seed_candidates", s.seed_candidates, 0, (int64_t{1} << s.K) - 1);
  check.at_least("seedlm.threads", s.threads, 0);

  check.at_least<int64_t>("eval.max_docs", config.eval.max_docs, 0);
  check.at_least<int64_t>("eval.hellaswag_max_tasks", config.eval.hellaswag_max_tasks, 0);

  check.above("constraints.target_compression_ratio", config.constraints.target_compression_ratio, 0.0);
  check.in_half_open("constraints.max_accuracy_drop", config.constraints.max_accuracy_drop, 0.0, 1.0);

  check.above("hardware.max_vram_gb", config.hardware.max_vram_gb, 0.0);
  check.at_least("hardware.threads", config.hardware.threads, 0);
  check.in_closed("hardware.processes", config.hardware.processes, 1, 1024);
  if (config.hardware.processes > 1 && config.bitnet.mode == "blockwise") {
    check.fail(concat("hardware.processes is ", config.hardware.processes,
                      ", but bitnet.mode \"blockwise\" trains one block at a time in one process: set processes 1"));
  }
  const std::string& backend = config.hardware.backend;
  if (backend != "auto" && backend != "gloo" && backend != "nccl") {
    check.fail(concat("hardware.backend must be \"auto\", \"gloo\" or \"nccl\", got \"", backend, "\""));
  }
  if (backend == "nccl" && config.hardware.device != Device::kCuda) {
    check.fail("hardware.backend \"nccl\" needs hardware.device \"cuda\" (NCCL reduces GPU tensors only)");
  }
  check.above("hardware.dist_timeout_s", config.hardware.dist_timeout_s, 0.0);
  if (config.hardware.loss_chunk_tokens < -1) {
    check.fail(concat("hardware.loss_chunk_tokens must be -1 (auto), 0 (off) or a token count, got ",
                      config.hardware.loss_chunk_tokens));
  }
  if (!(config.hardware.dist_bucket_mb >= 0.0 || config.hardware.dist_bucket_mb == -1.0)) {
    check.fail(concat("hardware.dist_bucket_mb must be -1 (auto) or >= 0, got ", config.hardware.dist_bucket_mb));
  }

  check.in_closed("output.metrics_port", config.output.metrics_port, 0, 65535);
  if (config.output.metrics_host.empty()) check.fail("output.metrics_host must not be empty (127.0.0.1 = this machine only)");
  const std::string& url = config.output.pushgateway_url;
  if (!url.empty() && url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    check.fail(concat("output.pushgateway_url must start with http:// or https://, got \"", url, "\""));
  }
}

}  // namespace seedforge
