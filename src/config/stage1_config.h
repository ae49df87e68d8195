// Stage1Config: every knob of the Stage-1 pipeline, read from one JSON file.
//
// The JSON mirrors the struct: top-level sections "bitnet", "seedlm",
// "encoding", "eval", "constraints", "hardware", "output", each an object of
// the keys below (docs/CONFIG.md lists every key, default, range and meaning).
// A partial file overrides only the keys it names. Unknown keys, wrong types,
// duplicate keys and out-of-range values are usage_errors naming the file and
// the dotted key, e.g. "config.json: bitnet.warmup_fraction must be in [0, 1], got 1.5".
//
// Empty path strings mean "the default", resolved by the resolve_* helpers
// below rather than stored, so that a config (and its fingerprint) does not
// depend on where the data folder happens to be.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace seedforge {

// How the quantization strength lambda ramps from 0 (full precision) to 1
// (ternary) over the first warmup_fraction of the training steps.
enum class LambdaSchedule { kLinear, kSigmoid, kConstant };
// Learning rate after the lr_warmup_steps linear warm-up.
enum class LrSchedule { kCosine, kConstant };
// How the ternary block weights are stored in model.stage1.pt.
enum class TernaryEncoding { kPacked, kSeedlm };
// How the remaining float matrices (embeddings, classifier) are stored.
enum class FloatEncoding { kSeedlm, kFp16, kInt8 };
// How vectors (norm weights) are stored.
enum class VectorEncoding { kFp16, kFp32 };
// How the ternary weights' scales (gamma) are stored; fine-tuning uses the
// stored values, so fp16 rounds them in training too.
enum class ScaleEncoding { kFp32, kFp16 };
enum class Device { kCpu, kCuda };

struct BitnetConfig {
  double lr = 1e-4;
  int64_t epochs = 2;
  int64_t max_steps = 0;  // optimizer steps; 0 = run `epochs` epochs
  int64_t batch_size = 2;
  int64_t grad_accum = 4;
  int64_t seq_len = 256;
  double warmup_fraction = 0.4;  // share of steps over which lambda ramps 0 -> 1
  LambdaSchedule schedule = LambdaSchedule::kLinear;
  LrSchedule lr_schedule = LrSchedule::kCosine;
  int64_t lr_warmup_steps = 0;
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double grad_clip = 1.0;  // max global gradient L2 norm; 0 = no clipping
  int activation_bits = 8;  // absmax activation quantization; 0 = off
  bool per_row_scale = false;
  // With per_row_scale: one scale per row and per run of this many input
  // columns (the last run shorter); 0 = one per row.
  int64_t scale_group = 0;
  bool input_norm = false;
  // "PATTERN:LEVELS" entries (src/train/projection_levels.h): projections
  // that keep 5..15 weight levels instead of three; empty = all ternary.
  std::vector<std::string> projection_levels;
  // Each ternary scale times a gain trained with the weights (LSQ's gradient
  // through the straight-through estimator); stored as the product.
  bool learned_scales = false;
  double kd_weight = 0.0;  // weight of the distillation term; 0 = off
  double kd_temperature = 1.0;
  // Distillation targets: 0 = the teacher's full distribution; k = its k most
  // likely tokens and the mass of the rest (src/train/teacher_targets.h).
  int64_t teacher_top_k = 0;
  // Host memory (MB) for the teacher's targets of the training windows; the
  // teacher runs again for windows beyond it. 0 = teacher on the fly. Never
  // changes the result.
  int64_t teacher_cache_mb = 1024;
  uint64_t seed = 1234;
  int64_t eval_every = 0;        // steps; 0 = no periodic validation
  int64_t checkpoint_every = 0;  // steps; 0 = no checkpoints
  std::string checkpoint_dir;    // "" = decided by the pipeline
  // Files, folders or globs (common/text_sources.h), read in this order;
  // empty = data text/tinystories/train.txt.
  std::vector<std::string> train_text;
  // Where tokenized training text is cached: "" = $SEEDFORGE_CACHE, else
  // $XDG_CACHE_HOME/seedforge, else ~/.cache/seedforge; "none" = no cache.
  std::string token_cache_dir;
  double valid_fraction = 0.0;   // share of train_text paragraphs held out
  // When the float matrices that SeedLM stores (embeddings, an untied head)
  // are encoded and frozen at their decoded values, as a share of the
  // fine-tuning steps: 0 = before the first step, 1 = never during training
  // (encoded afterwards). In between they train in full precision first.
  double float_freeze_fraction = 0.75;
  // Tokens sampled from the original model and added to train_text (data-free
  // distillation); 0 = none. Sampled at synthetic_temperature.
  int64_t synthetic_tokens = 0;
  double synthetic_temperature = 1.0;
  // "end_to_end": the whole student trains at once (max_steps / epochs).
  // "blockwise": each transformer block in turn trains against the original
  // block's outputs (src/train/blockwise.h), then e2e_steps train the
  // ternary scales, norms and float matrices with the trits frozen.
  std::string mode = "end_to_end";
  int64_t block_windows = 256;           // calibration windows (seq_len tokens each)
  int64_t block_steps = 200;             // optimizer steps per block
  std::string block_inputs = "converted";  // a block's inputs: "converted" blocks' outputs or the "original"'s
  int64_t e2e_steps = 0;                 // blockwise: end-to-end steps after the blocks (scales, norms, float matrices)
};

struct SeedlmConfig {
  int block_size = 8;  // C: weights per block
  int latent_dim = 4;  // P: coefficients per block
  int K = 16;          // LFSR width in bits; seeds are 1 .. 2^K - 1
  int Q = 4;           // bits per quantized coefficient
  int E = 4;           // bits of the shared exponent
  int64_t seed_candidates = 0;  // seeds tried per block; 0 = all 2^K - 1
  int threads = 0;              // 0 = hardware concurrency
};

struct EncodingConfig {
  TernaryEncoding ternary = TernaryEncoding::kPacked;
  FloatEncoding float_matrices = FloatEncoding::kSeedlm;  // JSON key "float"
  VectorEncoding vector = VectorEncoding::kFp16;
  ScaleEncoding ternary_scale = ScaleEncoding::kFp32;
};

struct EvalConfig {
  std::string text;             // "" = data text/tinystories/valid.txt
  int64_t max_docs = 0;         // 0 = all paragraphs
  std::string hellaswag;        // "" = HellaSwag not run
  int64_t hellaswag_max_tasks = 0;  // 0 = all tasks
  std::string tokenizer;        // "" = the model's own tokenizer
};

struct ConstraintsConfig {
  double target_compression_ratio = 10.0;
  double max_accuracy_drop = 0.05;  // relative top-1 drop, 0.05 = 5 %
};

struct HardwareConfig {
  Device device = Device::kCpu;
  double max_vram_gb = 16.0;
  int threads = 0;  // torch intra-op threads; 0 = library default
  // The data-parallel ranks this config's training is planned for: each step
  // takes bitnet.batch_size x grad_accum x processes windows. The stage1 tool
  // starts this many on this machine when neither --nproc nor torchrun's
  // WORLD_SIZE says otherwise; a run of another size keeps the global batch
  // through grad_accum where it divides (fit_global_batch, options_from_config.h).
  int processes = 1;
  // Data-parallel runs (WORLD_SIZE > 1, src/dist/): the c10d backend, "auto"
  // (Gloo on CPU, NCCL on CUDA), "gloo" or "nccl"; and how long a collective
  // waits for a peer rank before the run stops with an error naming it.
  std::string backend = "auto";
  double dist_timeout_s = 300.0;
  // Gradient buckets of this many MB (fp32) start their all-reduce while
  // backward still runs; 0 = one all-reduce after backward; -1 = auto (a
  // quarter of the gradients, between 0.25 and 25 MB).
  double dist_bucket_mb = -1.0;
  // The head's loss this many tokens at a time (src/train/chunked_head_loss.h):
  // 0 = the whole micro-batch; -1 = auto (chunks of 128 MiB of fp32 logits).
  int64_t loss_chunk_tokens = -1;
};

struct OutputConfig {
  std::string log_file;         // "" = stage1_compression.log beside the output
  std::string metrics_file;     // "" = no Prometheus textfile
  std::string pushgateway_url;  // "" = no push
  int metrics_port = 0;         // 0 = no /metrics HTTP server
  // The address /metrics listens on: loopback unless the user chooses to
  // expose the run's figures (e.g. "0.0.0.0" for a Prometheus on another host).
  std::string metrics_host = "127.0.0.1";
};

struct Stage1Config {
  BitnetConfig bitnet;
  SeedlmConfig seedlm;
  EncodingConfig encoding;
  EvalConfig eval;
  ConstraintsConfig constraints;
  HardwareConfig hardware;
  OutputConfig output;
};

Stage1Config default_stage1_config();

// Parses `json_text` over the defaults and validates. `where` (usually the
// file name) prefixes every error message.
Stage1Config parse_stage1_config(const std::string& json_text, const std::string& where);

// Reads and parses the file at `path`; a missing file is an input_error.
Stage1Config load_stage1_config(const std::string& path);

// Every key, defaults included; parse_stage1_config(to_json(c).dump(), ..) == c.
nlohmann::json to_json(const Stage1Config& config);

// Range and consistency checks; usage_error "<where>: <dotted key> must be ..".
void validate(const Stage1Config& config, const std::string& where = "config");

// FNV-1a 64 (16 hex digits) of the canonical JSON of the settings that shape
// the produced model. Left out, so that a run may resume after changing them:
// bitnet.eval_every, bitnet.checkpoint_every, bitnet.checkpoint_dir, bitnet.token_cache_dir,
// seedlm.threads and the whole eval, hardware and output sections.
std::string config_fingerprint(const Stage1Config& config);

// Enum <-> JSON spelling ("linear", "cosine", "packed", "fp16", "cuda", ...).
std::string to_string(LambdaSchedule value);
std::string to_string(LrSchedule value);
std::string to_string(TernaryEncoding value);
std::string to_string(FloatEncoding value);
std::string to_string(VectorEncoding value);
std::string to_string(ScaleEncoding value);
std::string to_string(Device value);

// Defaults for the empty path settings.
// The training files (bitnet.train_text expanded, default data
// text/tinystories/train.txt). Throws usage_error for an entry that names no
// file and for a training file that is the evaluation text (eval.text).
std::vector<std::string> resolve_train_text(const Stage1Config& config);
std::string resolve_eval_text(const Stage1Config& config);   // data text/tinystories/valid.txt
// stage1_compression.log in the folder of `output_path` ("." when it has none).
std::string resolve_log_file(const Stage1Config& config, const std::string& output_path);

}  // namespace seedforge
