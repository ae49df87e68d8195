// The Stage-1 pipeline (see run_stage1.h). Reads top to bottom as the stages run.
#include "pipeline/run_stage1.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

#include "common/cpu_isa.h"
#include "common/error.h"
#include "common/fault_point.h"
#include "common/file_util.h"
#include "common/interrupt.h"
#include "common/output_lock.h"
#include "common/release_memory.h"
#include "common/stale_temporaries.h"
#include "common/text_format.h"
#include "dist/dist_env.h"
#include "dist/process_group.h"
#include "eval/documents.h"
#include "eval/hellaswag.h"
#include "eval/multiple_choice.h"
#include "eval/peak_memory.h"
#include "eval/text_eval.h"
#include "io/model_loader.h"
#include "pipeline/sharded_seedlm.h"
#include "pipeline/stage1_memory.h"
#include "pipeline/stage1_model.h"
#include "pipeline/tensor_encoding.h"
#include "runtime/threads.h"
#include "telemetry/logging.h"
#include "telemetry/metrics.h"
#include "telemetry/metrics_server.h"
#include "telemetry/stage1_metrics.h"
#include "train/bit_linear.h"
#include "train/blockwise.h"
#include "train/memory_estimate.h"
#include "train/options_from_config.h"
#include "train/projection_levels.h"
#include "train/synthetic_data.h"
#include "train/token_cache.h"
#include "train/train_checkpoint.h"
#include "train/train_data.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace seedforge {

namespace {

using Clock = std::chrono::steady_clock;

// FNV-1a 64 over a file's bytes (or a folder's files, sorted): the input and
// training data part of the resume fingerprint.
uint64_t fnv1a(uint64_t h, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

uint64_t hash_path(const std::string& path, uint64_t h = 14695981039346656037ull) {
  if (fs::is_directory(path)) {
    std::vector<std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(path)) {
      if (e.is_regular_file()) files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) h = hash_path(f, fnv1a(h, f.data(), f.size()));
    return h;
  }
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return fnv1a(h, bytes.data(), bytes.size());
}

int64_t path_bytes(const std::string& path) {
  if (!fs::is_directory(path)) return static_cast<int64_t>(file_size_bytes(path));
  int64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(path)) {
    if (e.is_regular_file()) total += static_cast<int64_t>(e.file_size());
  }
  return total;
}

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Times a stage, logs its start and end, and records it in the report and
// metrics. A pending SIGINT/SIGTERM (interrupt.h) stops the run before the
// next stage begins; the message says what is on disk at that point.
class StageClock {
 public:
  StageClock(Stage1Report& report, MetricsRegistry& metrics) : report_(report), metrics_(metrics) {}
  template <typename F>
  auto run(const std::string& stage, F&& body) {
    if (const int sig = interrupt_signal(); sig != 0) {
      const std::string& output = report_.output;
      const std::string message =
          report_.output_bytes > 0
              ? concat("stopped by ", signal_name(sig), " before the stage '", stage, "'; '", output,
                       "' was written completely, its report was not")
              : concat("stopped by ", signal_name(sig), " before the stage '", stage, "'; nothing was written under '",
                       output, "'");
      log_warn(message);
      throw InterruptedError(sig, message);
    }
    fault_point(stage.c_str());
    log_info(concat("stage ", stage, ": start"));
    set_current_stage(metrics_, stage);
    const auto start = Clock::now();
    // The stage's own host peak: VmHWM reset to the current RSS first, after
    // keeping the process's peak so far (between stages included) in
    // lifetime_peak_. The reset is the kernel's: an outside reader of the
    // high-water mark (/usr/bin/time's maximum resident set) sees only the
    // last stage's; the report's peak_rss_bytes is the whole run's.
    // What was freed since the last stage (a model released between stages)
    // leaves the resident set first, so that the stage's peak starts from
    // what is live.
    lifetime_peak_ = std::max(lifetime_peak_, peak_rss_bytes());
    release_free_memory();
    const bool reset = reset_peak_rss();
    auto finish = [&] {
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      release_free_memory();  // what the stage freed leaves the resident set (peak_memory.h)
      const int64_t peak = peak_rss_bytes(), now = current_rss_bytes();
      lifetime_peak_ = std::max(lifetime_peak_, peak);
      report_.stages.push_back({stage, seconds, peak, now});
      metrics_.set_gauge(stage1_metric::kStageSeconds, seconds, {{"stage", stage}});
      log_info(concat("stage ", stage, ": done in ", fixed(seconds, 2), " s; host memory ", format_bytes(double(now)),
                      ", peak ", format_bytes(double(peak)), reset ? " during the stage" : " since the start"));
    };
    if constexpr (std::is_void_v<decltype(body())>) {
      body();
      finish();
    } else {
      auto result = body();
      finish();
      return result;
    }
  }

  // The process's peak resident set: the largest stage peak, or VmHWM now.
  int64_t lifetime_peak() const { return std::max(lifetime_peak_, peak_rss_bytes()); }

 private:
  Stage1Report& report_;
  MetricsRegistry& metrics_;
  int64_t lifetime_peak_ = 0;
};

struct EvalInputs {
  std::vector<std::vector<int32_t>> documents;
  std::vector<MultipleChoiceTask> hellaswag;
  std::string hellaswag_path;
};

// Where an evaluation runs: a model on the host is streamed layer by layer
// onto `device` when they differ (text_eval.h), so that a model larger than
// the GPU is never on it whole; otherwise it runs where it is.
AccuracyFigures evaluate(Transformer& model, const Tokenizer& tokenizer, const EvalInputs& inputs, int64_t max_seq_len,
                         const std::string& label, torch::Device device) {
  AccuracyFigures a;
  TextEvalOptions text_options;
  if (model->device() != device) {
    text_options.device = device;
    text_options.stream_layers = true;
  }
  const TextEvalResult text = evaluate_documents(model, inputs.documents, text_options);
  a.tokens = text.tokens;
  a.perplexity = text.perplexity;
  a.top1 = text.top1;
  log_info(concat(label, ": top-1 ", fixed(a.top1, 5), ", perplexity ", fixed(a.perplexity, 4), " over ", a.tokens,
                  " tokens (", fixed(text.tokens_per_second, 0), " tokens/s)"));
  if (!inputs.hellaswag.empty()) {
    MultipleChoiceOptions mc;
    mc.max_seq_len = max_seq_len;
    mc.device = model->device();  // the original and the student may live on CUDA
    const MultipleChoiceResult r =
        score_multiple_choice(transformer_logits(model), tokenizer, inputs.hellaswag, mc, inputs.hellaswag_path);
    a.hellaswag_acc = r.acc;
    a.hellaswag_acc_norm = r.acc_norm;
    a.hellaswag_tasks = r.tasks;
    log_info(concat(label, ": HellaSwag acc ", fixed(r.acc, 4), ", acc_norm ", fixed(r.acc_norm, 4), " over ", r.tasks,
                    " tasks"));
  }
  return a;
}

}  // namespace

Stage1Report run_stage1(const std::string& input, const std::string& output, const Stage1Config& config,
                        const Stage1RunOptions& options) {
  // Everything that can be refused is refused before any work.
  validate(config, "config");
  if (output.empty()) throw usage_error("--output is required");
  check_output_path_writable(output);
  const std::string report_path = options.report_path.empty() ? output + ".report.json" : options.report_path;
  check_output_path_writable(report_path);
  if (!fs::exists(input)) throw input_error("input '", input, "' does not exist");
  const Isa isa = isa_ceiling();  // a bad SEEDFORGE_ISA is a usage error
  TrainOptions train = train_options_from_config(config);
  const bool blockwise = train.mode == "blockwise";
  const bool fine_tune = train.max_steps > 0 || train.epochs > 0 || blockwise;
  // Expanded (and checked against the evaluation text) only when fine-tuning reads it.
  const std::vector<std::string> train_files = fine_tune ? resolve_train_text(config) : std::vector<std::string>{};
  // The memory plan from the checkpoint's header where it has one (no weight
  // read): a run that cannot fit stops here rather than after the load.
  if (checkpoint_config_in_header(input)) {
    const Checkpoint header = read_checkpoint_header(input);
    const ModelConfig& header_config = header.config;
    check_projection_levels_match(parse_projection_levels(train.projection_levels, "config"),
                                  projection_names(header_config), "config");
    Stage1MemoryInputs memory = stage1_memory_inputs(config, header_config, train, fine_tune);
    memory.original_projection_bytes = header.projection_bytes;
    memory.input_file_bytes = path_bytes(input);
    memory.config_in_header = true;
    memory.eval_batch_tokens = text_eval_batch_tokens(memory.model.vocab_size);
    check_stage1_memory_fits(estimate_stage1_memory(memory), memory.cuda, config.hardware.max_vram_gb,
                             physical_memory_bytes(), "the memory plan of " + input);
  }
  // Data parallel (WORLD_SIZE > 1, src/dist/): every rank runs the pipeline
  // through fine-tuning and encoding (each SeedLM search split across the
  // ranks, sharded_seedlm.h); rank 0 alone then writes the output, its
  // report, the log file and the metrics, the others log to
  // stage1_compression.rank-N.log and stop.
  const DistEnv dist = dist_env_from_environment();
  if (blockwise && dist.distributed()) {
    throw usage_error("bitnet.mode \"blockwise\" trains one block at a time in one process; data-parallel block-wise "
                      "fine-tuning is not built: set hardware.processes 1 and run it without --nproc / WORLD_SIZE > 1");
  }
  const bool writer = dist.writes_outputs();
  // A run with more or fewer ranks than hardware.processes keeps the config's
  // global batch through grad_accum (said in the log below).
  const std::string batch_note = fit_global_batch(train, config.hardware.processes, dist.world_size);
  // One run per output at a time, held until this function returns; refused
  // before anything (the log included) is touched. Rank 0 holds it for all.
  std::unique_ptr<OutputLock> lock = writer ? std::make_unique<OutputLock>(output) : nullptr;
  const std::string log_path =
      writer ? resolve_log_file(config, output) : rank_log_file(resolve_log_file(config, output), dist.rank);
  setup_logging(log_path, options.verbose, /*quiet_console=*/!writer);
  // A progress callback hears the lines the console shows (info and above).
  std::unique_ptr<ScopedLogListener> progress_lines;
  if (options.progress) {
    progress_lines = std::make_unique<ScopedLogListener>(
        [&options](LogLevel, const std::string& message) {
          Stage1Progress p;
          p.line = message;
          options.progress(p);
        },
        LogLevel::kInfo);
  }
  std::unique_ptr<DistGroup> group;
  if (dist.distributed()) {
    log_info(concat("data parallel: rank ", dist.rank, " of ", dist.world_size, " joining at ", dist.master_addr, ":",
                    dist.master_port));
    group = std::make_unique<DistGroup>(dist, config.hardware.backend, config.hardware.device == Device::kCuda,
                                        config.hardware.dist_timeout_s);
  }

  Stage1Report report;
  report.input = input;
  report.output = output;
  report.config = to_json(config);
  report.threads = configure_threads(config.hardware.threads);
  report.target_compression_ratio = config.constraints.target_compression_ratio;
  report.min_retention = 1.0 - config.constraints.max_accuracy_drop;
  log_info(concat("seedforge stage1: ", input, " -> ", output, " (", report.threads, " threads, BLAS ", blas_description(),
                  ", kernels up to ", isa_name(isa), ", ", allocator_description(), ")"));
  if (fine_tune && !batch_note.empty()) log_info(batch_note);
  report.train_ranks = train.world_size;
  report.train_batch_size = train.batch_size;
  report.train_grad_accum = train.grad_accum;
  // Under the lock no other run writes these names: a temporary of a dead
  // process is what a killed run left behind.
  for (const std::string& path : writer ? std::vector<std::string>{output, report_path} : std::vector<std::string>{}) {
    for (const std::string& stale : remove_stale_temporaries(path)) {
      log_warn(concat("removed ", stale, ", left by an earlier run that was killed while writing"));
    }
  }

  MetricsRegistry metrics;
  declare_stage1_metrics(metrics);
  std::unique_ptr<MetricsServer> server;
  if (config.output.metrics_port > 0 && writer) {
    server = std::make_unique<MetricsServer>(metrics, config.output.metrics_port, config.output.metrics_host);
    log_info(concat("serving Prometheus metrics on http://", server->host(), ":", server->port(), "/metrics"));
  }
  StageClock stages(report, metrics);
  const torch::Device device = config.hardware.device == Device::kCuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  const SeedLMParams seedlm = seedlm_params_from_config(config.seedlm);
  // The SeedLM block search of a tensor: shared out between the ranks, or all here.
  auto seedlm_search_for = [&](const std::string& name) -> SeedLMBlockSearch {
    return group ? sharded_seedlm_search(*group, seedlm, name) : SeedLMBlockSearch();
  };

  // ---- load ---------------------------------------------------------------
  LoadedModel original = stages.run("load", [&] {
    // Block-wise keeps the original on the host: its blocks go to the GPU
    // one at a time (targets, evaluation), its matrices in bf16 as the
    // end-to-end phase's teacher.
    LoadedModel m = load_model(input, config.eval.tokenizer, blockwise ? torch::Device(torch::kCPU) : device);
    if (blockwise) {
      // The host holds the original for the whole run: a bf16 checkpoint's
      // projections stay 2 bytes a weight, widened exactly for each product.
      const int64_t freed = narrow_exact_projections(m.model);
      if (freed > 0) {
        release_free_memory();
        log_info(concat("the original's projection matrices are held in 16 bits on the host, as the checkpoint ",
                        "stores them (", format_bytes(double(freed)), " less than fp32)"));
      }
    }
    report.input_bytes = path_bytes(input);
    report.parameters = parameter_count(m.checkpoint.config);
    metrics.set_gauge(stage1_metric::kInputBytes, double(report.input_bytes));
    log_info(concat("loaded ", m.checkpoint.format, " model: ", report.parameters, " parameters, ", report.input_bytes,
                    " bytes on disk, ", m.tokenizer->kind(), " tokenizer"));
    return m;
  });
  const ModelConfig& model_config = original.checkpoint.config;
  const Tokenizer& tokenizer = *original.tokenizer;

  // Evaluation inputs are read now so that a bad file stops the run early.
  EvalInputs eval_inputs;
  report.eval_text = resolve_eval_text(config);
  {
    std::vector<std::string> docs = read_documents(report.eval_text);
    if (config.eval.max_docs > 0 && int64_t(docs.size()) > config.eval.max_docs) docs.resize(config.eval.max_docs);
    eval_inputs.documents = tokenize_documents(docs, tokenizer, model_config.max_seq_len);
    if (!config.eval.hellaswag.empty()) {
      eval_inputs.hellaswag_path = config.eval.hellaswag;
      eval_inputs.hellaswag = read_hellaswag(config.eval.hellaswag);
      if (config.eval.hellaswag_max_tasks > 0 && int64_t(eval_inputs.hellaswag.size()) > config.eval.hellaswag_max_tasks) {
        eval_inputs.hellaswag.resize(config.eval.hellaswag_max_tasks);
      }
    }
  }

  train.resume = options.resume;
  if (train.checkpoint_dir.empty()) train.checkpoint_dir = output + ".checkpoints";
  for (const std::string& stale :
       writer ? remove_stale_temporaries(checkpoint_file(train.checkpoint_dir)) : std::vector<std::string>{}) {
    log_warn(concat("removed ", stale, ", left by an earlier run that was killed while writing a checkpoint"));
  }
  // Content in order (one file hashes as it always has, so older checkpoints still resume).
  uint64_t train_hash = 14695981039346656037ull;
  for (const std::string& f : train_files) train_hash = hash_path(f, train_hash);
  const std::string train_text_hash = fine_tune ? hex(train_hash) : "none";
  // What shapes the fine-tuned weights: the input, the training text, the
  // bitnet and seedlm sections and the float-matrix encoding (SeedLM-encoded
  // embeddings are frozen during training). How the trained ternary weights
  // are then stored does not enter, so one fine-tuning can be resumed at its
  // last step and written with another encoding.ternary.
  Stage1Config training_shape = config;
  training_shape.encoding.ternary = default_stage1_config().encoding.ternary;
  training_shape.encoding.vector = default_stage1_config().encoding.vector;
  training_shape.constraints = default_stage1_config().constraints;
  train.fingerprint = "input:" + hex(hash_path(input)) + " train:" + train_text_hash + " config:" + config_fingerprint(training_shape);

  // The start of the training text, as many tokens as the evaluation text:
  // retention there against retention on unseen text separates fitting the
  // training text from keeping the model.
  EvalInputs train_inputs;
  if (fine_tune) {
    int64_t eval_tokens = 0;
    for (const auto& d : eval_inputs.documents) eval_tokens += int64_t(d.size());
    const std::vector<std::vector<int32_t>> docs =
        tokenize_documents(read_documents(train_files.front()), tokenizer, model_config.max_seq_len);
    int64_t tokens = 0;
    for (const auto& d : docs) {
      if (!train_inputs.documents.empty() && tokens >= eval_tokens) break;
      train_inputs.documents.push_back(d);
      tokens += int64_t(d.size());
    }
    report.train_sample = concat(train_files.front(), " (first ", train_inputs.documents.size(), " documents)");
  }

  // ---- baseline evaluation ----------------------------------------------
  report.before = stages.run("baseline evaluation", [&] {
    if (!train_inputs.documents.empty()) {
      report.train_before = evaluate(original.model, tokenizer, train_inputs, model_config.max_seq_len, "original on training text",
                                   device);
    }
    return evaluate(original.model, tokenizer, eval_inputs, model_config.max_seq_len, "original", device);
  });
  metrics.set_gauge(stage1_metric::kTop1, report.before.top1, {{"model", "original"}});
  metrics.set_gauge(stage1_metric::kPerplexity, report.before.perplexity, {{"model", "original"}});

  // ---- BitNet conversion and fine-tuning --------------------------------
  // The student starts as a copy of the original. Float matrices that SeedLM
  // will store (embeddings, an untied head) are encoded and frozen at their
  // decoded values at bitnet.float_freeze_fraction of the steps (0: before
  // the first), so that the rest of fine-tuning learns around their error
  // instead of meeting it only after training.
  Transformer student = build_model(model_config, model_state_dict(original.model), input);
  std::map<std::string, Stage1Tensor> pre_encoded;
  auto encode_and_freeze_float_matrices = [&](int64_t step) {
    torch::NoGradGuard no_grad;
    for (auto& item : student->named_parameters()) {
      const std::string& name = item.key();
      torch::Tensor& p = item.value();
      if (p.dim() < 2 || is_projection_weight(name) || config.encoding.float_matrices != FloatEncoding::kSeedlm) continue;
      if (pre_encoded.count(name) != 0) continue;
      int64_t reported = 0;
      // Encoded from where it lives (CPU copy); decoded back onto its device.
      Stage1Tensor enc = encode_seedlm_tensor(
          name, p.to(torch::kCPU), seedlm,
          [&](int64_t done, int64_t) {
            metrics.add_counter(stage1_metric::kBlocksEncodedTotal, double(done - reported));
            reported = done;
          },
          seedlm_search_for(name));
      p.copy_(decode_stage1_tensor(enc, seedlm, output).to(p.device()));
      p.set_requires_grad(false);
      p.mutable_grad().reset();  // else AdamW keeps moving it on its moments
      log_info(concat("encoded ", name, " with SeedLM (", enc.payload_bytes(), " bytes) and froze it at step ", step));
      pre_encoded.emplace(name, std::move(enc));
    }
  };
  stages.run("bitnet conversion and fine-tuning", [&] {
    convert_to_bitnet(student, bitnet_options(train));
    apply_projection_levels(student, train.projection_levels, "config");
    // Block-wise moves one block at a time to the device (blockwise.h).
    if (!blockwise) student->to(device);
    if (!fine_tune) {
      log_info("fine-tuning disabled (epochs = max_steps = 0): plain ternary rounding");
      return;
    }
    TrainData data = load_train_data(train_files, "", tokenizer, train, model_config.max_seq_len,
                                     resolve_token_cache_dir(config.bitnet.token_cache_dir));
    log_info(concat("training text: ", describe_files(train_files), ", ", data.stream.size(), " tokens",
                    data.token_cache.empty() ? std::string() : "; token cache: " + data.token_cache));
    add_synthetic_documents(data, original.model, tokenizer, train, [](const std::string& line) { log_info(line); });
    std::unique_ptr<Transformer> teacher;
    // The original itself: nothing changes it after this (no copy, 4 bytes a parameter saved).
    if (train.kd_weight > 0) teacher = std::make_unique<Transformer>(freeze_as_teacher(original.model));
    FinetuneHooks hooks;
    hooks.log = [](const std::string& line) { log_info(line); };
    bool frozen = false;  // once frozen, later steps have nothing to check
    hooks.before_step = [&](int64_t step, int64_t total_steps) {
      if (step == total_steps / 2) fault_point("fine-tuning");
      if (!frozen && step >= std::llround(config.bitnet.float_freeze_fraction * double(total_steps))) {
        encode_and_freeze_float_matrices(step);
        frozen = true;
      }
    };
    hooks.on_step = [&](const StepReport& s) {
      if (options.progress) {
        Stage1Progress p;
        p.step = s.step;
        p.total_steps = s.total_steps;
        p.loss = s.loss;
        p.lambda = s.lambda;
        p.lr = s.lr;
        p.tokens_per_second = s.tokens_per_second;
        p.eta_seconds = s.eta_seconds;
        options.progress(p);
      }
      metrics.set_gauge(stage1_metric::kStep, double(s.step));
      metrics.set_gauge(stage1_metric::kLoss, s.loss);
      metrics.set_gauge(stage1_metric::kLambda, s.lambda);
      // About twenty progress lines per run on the console, every step in the log file.
      const int64_t every = std::max<int64_t>(1, s.total_steps / 20);
      const LogLevel level = s.step % every == 0 || s.step == s.total_steps ? LogLevel::kInfo : LogLevel::kDebug;
      log_message(level, concat("step ", s.step, "/", s.total_steps, " lambda ", fixed(s.lambda, 3), " loss ",
                                fixed(s.loss, 4), " lr ", scientific(s.lr, 2), " ", fixed(s.tokens_per_second, 0),
                                " tokens/s ETA ", fixed(s.eta_seconds, 0), " s"));
    };
    hooks.on_eval = [](const ValidReport& v) {
      log_info(concat("validation at step ", v.step, ": top-1 ", fixed(v.top1, 5), ", perplexity ", fixed(v.perplexity, 4)));
    };
    hooks.stop_requested = [] { return interrupt_signal() != 0; };
    TrainOptions end_to_end = train;
    if (blockwise) {
      BlockwiseHooks block_hooks;
      block_hooks.log = [](const std::string& line) { log_info(line); };
      block_hooks.stop_requested = [] { return interrupt_signal() != 0; };
      block_hooks.on_block = [&](const BlockReport& b) { metrics.set_gauge(stage1_metric::kLoss, b.trained_mse); };
      const BlockwiseResult blocks = train_blockwise(student, original.model, data, train, block_hooks);
      if (blocks.stopped_after >= 0) {
        const int sig = interrupt_signal();
        const std::string message =
            blocks.checkpoint_path.empty()
                ? concat("stopped by ", signal_name(sig), " after block ", blocks.stopped_after, " of ",
                         model_config.n_layers, "; no checkpoint was written; nothing was written under '", output, "'")
                : concat("stopped by ", signal_name(sig), " after block ", blocks.stopped_after, " of ",
                         model_config.n_layers, "; checkpoint written to '", blocks.checkpoint_path,
                         "'; nothing was written under '", output,
                         "'; rerun the same command with --resume to continue from there");
        log_warn(message);
        throw InterruptedError(sig, message);
      }
      report.train_steps = int64_t(blocks.blocks.size()) * train.block_steps;
      report.train_tokens = blocks.train_tokens;
      report.train_seconds = blocks.seconds;
      report.train_tokens_per_second = blocks.seconds > 0 ? double(blocks.train_tokens) / blocks.seconds : 0.0;
      report.final_loss = blocks.blocks.empty() ? 0.0 : blocks.blocks.back().trained_mse;
      if (train.e2e_steps == 0) return;
      // The end-to-end phase (EfficientQAT's E2E-QP): the trits stay as the
      // blocks left them, stored as such (1 byte a weight, no gradient,
      // lambda 1 throughout); the ternary scales' gains, the norms and the
      // float matrices (until SeedLM freezes them) train on the
      // cross-entropy and distillation loss.
      freeze_trits(student);
      release_free_memory();  // the fp32 latent weights and the blocks' optimizer state
      for (auto& item : student->named_parameters()) {
        item.value().set_requires_grad(!is_projection_weight(item.key()) && pre_encoded.count(item.key()) == 0);
      }
      end_to_end.max_steps = train.e2e_steps;
      end_to_end.epochs = 0;
      end_to_end.warmup_fraction = 0.0;
      // A run stopped during the blocks has no end-to-end checkpoint yet.
      end_to_end.resume = train.resume && fs::is_regular_file(checkpoint_file(train.checkpoint_dir));
      student->to(device);
      log_info(concat("end-to-end phase: ", train.e2e_steps,
                      " steps on the ternary scales, norms and float matrices, trits fixed (int8); host memory ",
                      format_bytes(double(current_rss_bytes())), ", peak ", format_bytes(double(peak_rss_bytes())),
                      " in this stage"));
    }
    const FinetuneResult result =
        finetune_bitnet(student, teacher ? teacher.get() : nullptr, data, end_to_end, hooks, group.get());
    if (result.stopped_at > 0) {
      const int sig = interrupt_signal();
      const std::string message =
          result.checkpoint_path.empty()
              ? concat("stopped by ", signal_name(sig), " at step ", result.stopped_at, " of ", result.total_steps,
                       "; no checkpoint was written; nothing was written under '", output, "'")
              : concat("stopped by ", signal_name(sig), " at step ", result.stopped_at, " of ", result.total_steps,
                       "; checkpoint written to '", result.checkpoint_path, "'; nothing was written under '", output,
                       "'; rerun the same command with --resume to continue from step ", result.stopped_at);
      log_warn(message);
      throw InterruptedError(sig, message);
    }
    report.train_steps += result.total_steps;
    report.train_tokens += result.train_tokens;
    report.train_seconds += result.train_seconds;
    report.train_tokens_per_second = report.train_seconds > 0 ? double(report.train_tokens) / report.train_seconds : 0.0;
    report.final_loss = result.losses.empty() ? 0.0 : result.losses.back();
    if (group) {
      const AllReduceStats& a = result.all_reduce;
      const double steps = double(std::max<int64_t>(a.calls, 1));
      log_info(concat("data parallel: ", a.calls, " gradient averages of ", format_bytes(double(a.bytes) / steps), " in ",
                      fixed(double(a.buckets) / steps, 1), " buckets, ", fixed(a.seconds / steps * 1e3, 3),
                      " ms per step waited after backward (", fixed(a.seconds, 2), " s of ", fixed(result.train_seconds, 2),
                      " s training)"));
    }
  });

  student->to(torch::kCPU);
  student->eval();
  // The original (the teacher) is done with: a large model needs its memory
  // for the stages below (the next stage's start trims the heap).
  original.model = Transformer(nullptr);

  // ---- encoding -----------------------------------------------------------
  Stage1File file;
  stages.run("encoding", [&] {
    file.config = model_config;
    file.tokenizer_kind = tokenizer.kind();
    file.tokenizer_bytes = tokenizer.to_bytes();
    file.seedlm = seedlm;
    const BitNetOptions bitnet = bitnet_options(train);
    file.bitnet = {true, bitnet.activation_bits, bitnet.per_row_scale, bitnet.scale_group, bitnet.input_norm};
    // One projection's ternary form at a time (its dequantized fp32 copy is
    // 4 bytes a weight): a large model never holds all of them at once.
    std::map<std::string, std::pair<std::string, const BitLinearImpl*>> projections;  // weight -> (layer name, layer)
    for (const auto& [name, layer] : bit_linear_layers(student)) {
      projections.emplace(name + ".weight", std::make_pair(name, layer));
    }
    for (const auto& [name, value] : model_state_dict(student)) {
      if (is_scale_gain(name)) continue;  // part of its projection's ternary scale
      Stage1Tensor enc;
      torch::Tensor used = value;  // what the fine-tuned model multiplies by
      if (auto it = projections.find(name); it != projections.end()) {
        const TernaryWeight ternary = ternary_weight(it->second.first, *it->second.second);
        used = ternary.dequantized;
        BitNetOptions layer = bitnet;  // this projection's levels
        layer.max_level = ternary.max_level;
        enc = config.encoding.ternary == TernaryEncoding::kPacked
                  ? encode_ternary_tensor(name, ternary.trits, ternary.scale, layer)
                  : encode_seedlm_tensor(
                        name, used, seedlm,
                        [&, reported = int64_t{0}](int64_t done, int64_t) mutable {
                          metrics.add_counter(stage1_metric::kBlocksEncodedTotal, double(done - reported));
                          reported = done;
                        },
                        seedlm_search_for(name));
      } else if (auto pre = pre_encoded.find(name); pre != pre_encoded.end()) {
        enc = pre->second;
      } else {
        enc = encode_float_tensor(name, value, config, seedlm, nullptr, seedlm_search_for(name));
      }
      TensorReport tr;
      tr.name = name;
      tr.codec = enc.codec;
      tr.shape = enc.shape;
      tr.params = enc.numel();
      tr.bytes = enc.payload_bytes();
      tr.bits_per_weight = double(tr.bytes) * 8 / double(std::max<int64_t>(tr.params, 1));
      tr.relative_error = relative_error(used, decode_stage1_tensor(enc, seedlm, output));
      report.tensors.push_back(tr);
      file.tensors.push_back(std::move(enc));
    }
    file.training = {{"steps", report.train_steps}, {"tokens", report.train_tokens}, {"seed", int64_t(train.seed)}};
  });
  if (!writer) {
    log_info(concat("rank ", dist.rank, " of ", dist.world_size, ": fine-tuning and encoding done; rank 0 writes '",
                    output, "'"));
    return report;
  }

  // ---- compressed evaluation ------------------------------------------------
  // The compressed model as it will be read back: evaluated before the write
  // so that its figures go into the file; the reload below must reproduce
  // them exactly. A stage of its own, so that its time and memory are not
  // charged to the write.
  student = Transformer(nullptr);  // the file holds what it became
  stages.run("compressed evaluation", [&] {
    Transformer compressed = build_stage1_model(file, output);  // the reload builds it again from the file
    report.after = evaluate(compressed, tokenizer, eval_inputs, model_config.max_seq_len, "compressed (in memory)", device);
    report.retention = report.before.top1 > 0 ? report.after.top1 / report.before.top1 : 0.0;
    if (!train_inputs.documents.empty()) {
      report.train_after = evaluate(compressed, tokenizer, train_inputs, model_config.max_seq_len,
                                    "compressed on training text", device);
      report.train_retention = report.train_before.top1 > 0 ? report.train_after.top1 / report.train_before.top1 : 0.0;
    }
  });
  file.metrics_json = stage1_embedded_metrics(report);

  // ---- write --------------------------------------------------------------
  stages.run("write", [&] {
    write_stage1_file(output, file);  // temporary name + rename inside
    report.output_bytes = static_cast<int64_t>(file_size_bytes(output));
    log_info(concat("wrote ", output, " (", report.output_bytes, " bytes)"));
  });

  // ---- reload and evaluate --------------------------------------------------
  stages.run("reload and evaluate", [&] {
    LoadedModel reloaded = open_model(output, "", torch::kCPU);
    const AccuracyFigures again = evaluate(reloaded.model, *reloaded.tokenizer, eval_inputs, model_config.max_seq_len, "compressed (reloaded)",
                                             device);
    if (again.top1 != report.after.top1 || again.tokens != report.after.tokens) {
      throw runtime_error("reloading '", output, "' gave top-1 ", again.top1, " but the in-memory model gave ",
                          report.after.top1, ": the file does not hold the model that was evaluated");
    }
  });

  // ---- constraints ----------------------------------------------------------
  stages.run("check constraints", [&] {
    report.compression_ratio = double(report.input_bytes) / double(std::max<int64_t>(report.output_bytes, 1));
    report.bits_per_weight = double(report.output_bytes) * 8 / double(std::max<int64_t>(report.parameters, 1));
    report.ratio_ok = report.compression_ratio >= report.target_compression_ratio;
    report.retention_ok = report.retention >= report.min_retention;
    if (!report.ratio_ok) {
      report.violations.push_back(concat("compression ratio ", report.compression_ratio, " is below the target ",
                                         report.target_compression_ratio, " (output ", report.output_bytes, " bytes, at most ",
                                         int64_t(double(report.input_bytes) / report.target_compression_ratio), " allowed)"));
    }
    if (!report.retention_ok) {
      report.violations.push_back(concat("top-1 retention ", report.retention, " is below ", report.min_retention, " (top-1 ",
                                         report.after.top1, " vs ", report.before.top1, ", short by ",
                                         report.min_retention - report.retention, ")"));
    }
    for (const auto& v : report.violations) log_warn(concat("constraint not met: ", v));
    metrics.set_gauge(stage1_metric::kCompressionRatio, report.compression_ratio);
    metrics.set_gauge(stage1_metric::kAccuracyRetention, report.retention);
    metrics.set_gauge(stage1_metric::kOutputBytes, double(report.output_bytes));
    metrics.set_gauge(stage1_metric::kTop1, report.after.top1, {{"model", "compressed"}});
    metrics.set_gauge(stage1_metric::kPerplexity, report.after.perplexity, {{"model", "compressed"}});
  });

  // ---- report ---------------------------------------------------------------
  report.peak_rss_bytes = stages.lifetime_peak();
  set_current_stage(metrics, "done");
  const std::string json = report_json(report).dump(2) + "\n";
  write_file_atomic(report_path, json.data(), json.size());
  if (!config.output.metrics_file.empty()) metrics.write_textfile(config.output.metrics_file);
  if (!config.output.pushgateway_url.empty()) metrics.push_to_gateway(config.output.pushgateway_url, "seedforge_stage1");
  log_info(concat("report written to ", report_path));
  return report;
}

}  // namespace seedforge
