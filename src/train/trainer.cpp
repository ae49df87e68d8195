#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <unordered_set>

#include "common/error.h"
#include "eval/text_eval.h"
#include "train/bit_linear.h"
#include "train/chunked_head_loss.h"
#include "train/schedule.h"
#include "train/teacher_targets.h"
#include "train/train_checkpoint.h"
#include "train/train_forward.h"

namespace seedforge {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string fmt(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.4g", value);
  return buffer;
}

torch::Tensor cpu_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_cpu_rng_state(const torch::Tensor& state, const std::string& where) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  try {
    gen.set_state(state);
  } catch (const c10::Error& e) {
    throw input_error(where, ": invalid RNG state: ", e.what_without_backtrace());
  }
}

}  // namespace

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

void restore_parameters(Transformer& student, const StateDict& params, const std::string& where) {
  torch::NoGradGuard no_grad;
  auto named = student->named_parameters(/*recurse=*/true);
  if (params.size() != named.size()) {
    throw input_error(where, ": ", params.size(), " parameters, the model has ", named.size());
  }
  for (const auto& [name, value] : params) {
    torch::Tensor* p = named.find(name);
    if (p == nullptr) throw input_error(where, ": unexpected parameter '", name, "'");
    if (!p->sizes().equals(value.sizes())) {
      throw input_error(where, ": parameter '", name, "' has shape ", value.sizes(), ", the model's is ", p->sizes());
    }
    p->copy_(value);
  }
}

double clip_gradients(const std::vector<torch::Tensor>& params, double max_norm) {
  std::vector<torch::Tensor> norms;
  for (const auto& p : params) {
    if (p.grad().defined()) norms.push_back(p.grad().norm(2).to(torch::kFloat32));
  }
  if (norms.empty()) return 0.0;
  const double total = torch::stack(norms).norm(2).item<double>();
  if (max_norm > 0.0 && total > max_norm) {
    const double coef = max_norm / (total + 1e-6);
    for (const auto& p : params) {
      if (p.grad().defined()) p.grad().mul_(coef);
    }
  }
  return total;
}

Transformer make_teacher(const Transformer& dense_model) {
  if (is_bitnet(dense_model)) throw usage_error("the distillation teacher must be the dense (unconverted) model");
  return freeze_as_teacher(build_model(dense_model->config(), model_state_dict(dense_model), "teacher copy"));
}

void store_matrices_in_bf16(Transformer& teacher) {
  torch::NoGradGuard no_grad;
  for (auto& p : teacher->parameters()) {
    if (p.dim() >= 2 && p.scalar_type() != torch::kBFloat16) p.set_data(p.to(torch::kBFloat16));
  }
}

Transformer freeze_as_teacher(Transformer dense_model) {
  if (is_bitnet(dense_model)) throw usage_error("the distillation teacher must be the dense (unconverted) model");
  for (auto& p : dense_model->parameters()) p.set_requires_grad(false);
  dense_model->eval();
  return dense_model;
}

MicroBatchLoss micro_batch_loss(Transformer& student, const TeacherTargets& teacher, const torch::Tensor& windows,
                                const TrainOptions& options, bool bf16, bool activation_checkpointing) {
  const int64_t t = windows.size(1) - 1;
  const torch::Tensor inputs = windows.narrow(1, 0, t);
  const torch::Tensor targets = windows.narrow(1, 1, t).reshape({-1});
  const int64_t vocab = student->config().vocab_size;
  const int64_t chunk = loss_chunk_tokens(options.loss_chunk_tokens, targets.size(0), vocab);
  const double temp = options.kd_temperature;
  torch::Tensor ce, kd;  // kd: the mean KL(teacher || student), undefined without a teacher
  if (chunk < targets.size(0)) {
    // A large vocabulary's logits a chunk at a time (chunked_head_loss.h).
    const torch::Tensor hidden =
        training_hidden(student, inputs, bf16, activation_checkpointing, options.attention_kernel);  // [B, T, C]
    const HeadLoss head = chunked_head_loss(hidden.reshape({-1, hidden.size(-1)}), student->output_weight(), targets,
                                            teacher, temp, chunk);
    ce = head.ce;
    if (teacher.defined()) kd = head.kd;
  } else {
    const torch::Tensor logits =
        training_logits(student, inputs, bf16, activation_checkpointing, options.attention_kernel);  // [B, T, V]
    const torch::Tensor flat = logits.view({-1, logits.size(-1)});
    ce = torch::nn::functional::cross_entropy(flat, targets);
    // KL per token (full or top-k, teacher_targets.h), mean over tokens.
    if (teacher.defined()) kd = distillation_kl(teacher, torch::log_softmax(flat / temp, -1));
  }
  MicroBatchLoss out;
  out.ce = ce;
  if (kd.defined()) {
    // Times T^2 so that the gradient scale does not shrink with the
    // temperature (Hinton et al.).
    out.kd = kd * (temp * temp);
    out.loss = out.ce + options.kd_weight * out.kd;
  } else {
    out.kd = torch::zeros({}, out.ce.options());
    out.loss = out.ce;
  }
  return out;
}

MicroBatchLoss micro_batch_loss(Transformer& student, Transformer* teacher, const torch::Tensor& windows,
                                const TrainOptions& options, bool bf16, bool activation_checkpointing) {
  TeacherTargets targets;
  if (teacher != nullptr && options.kd_weight > 0.0) {
    targets = teacher_targets(*teacher, windows.narrow(1, 0, windows.size(1) - 1), options, bf16);
  }
  return micro_batch_loss(student, targets, windows, options, bf16, activation_checkpointing);
}

std::unique_ptr<torch::optim::AdamW> make_optimizer(Transformer& student, const TrainOptions& options) {
  return make_optimizer(student->parameters(), options);
}

std::unique_ptr<torch::optim::AdamW> make_optimizer(const std::vector<torch::Tensor>& parameters,
                                                    const TrainOptions& options) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : parameters) {
    if (p.requires_grad()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  }
  auto adamw = [&](double weight_decay) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(options.lr).betas({options.beta1, options.beta2}).eps(1e-8).weight_decay(weight_decay));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, adamw(options.weight_decay));
  groups.emplace_back(no_decay, adamw(0.0));
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(options.lr));
}

StepStats optimizer_step(Transformer& student, const std::vector<torch::Tensor>& micro_batches,
                         const std::vector<TeacherTargets>& teacher, torch::optim::Optimizer& optimizer, double lr,
                         const TrainOptions& options, bool bf16, bool activation_checkpointing, const std::string& where,
                         DistGroup* group, OverlappedGradientAverage* overlap) {
  set_learning_rate(optimizer, lr);
  optimizer.zero_grad();
  StepStats stats;
  const double n = double(micro_batches.size());
  for (size_t m = 0; m < micro_batches.size(); ++m) {
    const MicroBatchLoss l = micro_batch_loss(student, teacher.empty() ? TeacherTargets() : teacher[m],
                                              micro_batches[m], options, bf16, activation_checkpointing);
    const double loss = l.loss.item<double>();
    const double ce = l.ce.item<double>();
    const double kd = l.kd.item<double>();
    if (!std::isfinite(loss)) {
      throw runtime_error("training diverged: the loss is ", loss, " at ", where, " (micro-batch ", m + 1, " of ",
                          micro_batches.size(), "; cross-entropy ", ce, ", distillation ", kd, "; lr ", fmt(lr),
                          "): lower bitnet.lr or set bitnet.grad_clip");
    }
    if (group != nullptr && overlap != nullptr && m + 1 == micro_batches.size()) overlap->arm(where);
    (l.loss / n).backward();
    stats.loss += loss / n;
    stats.ce += ce / n;
    stats.kd += kd / n;
  }
  std::vector<torch::Tensor> params;
  for (const auto& g : optimizer.param_groups()) params.insert(params.end(), g.params().begin(), g.params().end());
  if (group != nullptr) {
    if (overlap != nullptr) {
      overlap->finish();
    } else {
      std::vector<torch::Tensor> grads;
      for (const auto& p : params) grads.push_back(p.grad());
      group->average_gradients(grads, where);
    }
    torch::Tensor sums = torch::tensor({stats.loss, stats.ce, stats.kd}, torch::kFloat64);
    group->all_reduce_sum(sums, where);
    const double w = double(group->world_size());
    stats.loss = sums[0].item<double>() / w;
    stats.ce = sums[1].item<double>() / w;
    stats.kd = sums[2].item<double>() / w;
  }
  stats.grad_norm = clip_gradients(params, options.grad_clip);
  optimizer.step();
  return stats;
}

FinetuneResult finetune_bitnet(Transformer& student, Transformer* teacher, const TrainData& data,
                               const TrainOptions& options, const FinetuneHooks& hooks, DistGroup* group) {
  auto log = [&](const std::string& line) {
    if (hooks.log) hooks.log(line);
  };
  // ---- checks, before any work ----
  validate_train_options(options, "fine-tuning options");
  if (!is_bitnet(student)) throw usage_error("finetune_bitnet: convert the model with convert_to_bitnet() first");
  const BitNetOptions converted = bitnet_options_of(student);
  const BitNetOptions wanted = bitnet_options(options);
  if (converted != wanted) {
    throw usage_error("finetune_bitnet: the model was converted with other BitNet options than the training options");
  }
  const bool use_teacher = options.kd_weight > 0.0;
  if (use_teacher && teacher == nullptr) {
    throw usage_error("bitnet.kd_weight is ", options.kd_weight, " but no distillation teacher was given");
  }
  if (data.windows <= 0 || data.seq_len != options.seq_len) {
    throw usage_error("finetune_bitnet: the training data was packed for seq_len ", data.seq_len, ", options say ",
                      options.seq_len);
  }
  const int world = group == nullptr ? 1 : group->world_size();
  const int rank = group == nullptr ? 0 : group->rank();
  if (world != options.world_size) {
    throw usage_error("finetune_bitnet: the options plan for ", options.world_size, " ranks, the process group has ", world);
  }
  const bool cuda = options.device == "cuda";
  const bool bf16 = options.bf16 < 0 ? cuda : options.bf16 == 1;
  const bool checkpointing = options.activation_checkpointing < 0 ? cuda : options.activation_checkpointing == 1;

  FinetuneResult result;
  result.total_steps = total_steps(options, data.windows);
  const int64_t total = result.total_steps;
  result.memory = estimate_training_memory(student->config(), options, use_teacher, cuda, bf16, checkpointing);
  log(concat("memory estimate (", options.device, bf16 ? ", bf16" : ", fp32",
             checkpointing ? ", activation checkpointing" : "", "): ", result.memory.describe()));
  if (cuda) {
    check_memory_fits(result.memory, options.max_vram_gb, "fine-tuning");
    if (!torch::cuda::is_available()) {
      throw usage_error("hardware.device is \"cuda\" but libtorch sees no CUDA device (CPU-only build or no GPU)");
    }
  }
  const std::string ckpt_path = options.checkpoint_dir.empty() ? "" : checkpoint_file(options.checkpoint_dir);
  if (options.resume && !std::filesystem::is_regular_file(ckpt_path)) {
    throw input_error(ckpt_path, ": no checkpoint to resume from (file missing)");
  }
  if (options.checkpoint_every > 0 && !std::filesystem::is_directory(options.checkpoint_dir)) {
    std::error_code ec;
    std::filesystem::create_directories(options.checkpoint_dir, ec);
    if (ec) throw usage_error("bitnet.checkpoint_dir ", options.checkpoint_dir, ": cannot create it: ", ec.message());
  }

  // ---- set-up ----
  const torch::Device device = cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  torch::manual_seed(options.seed);
  student->to(device);
  student->train();
  if (use_teacher) {
    // bf16 before the move: a teacher on the host (block-wise) never has
    // its fp32 matrices on the device.
    if (cuda && bf16) store_matrices_in_bf16(*teacher);
    (*teacher)->to(device);
    (*teacher)->eval();
  }
  Transformer* kd_teacher = use_teacher ? teacher : nullptr;

  std::unique_ptr<torch::optim::AdamW> optimizer_owner = make_optimizer(student, options);
  torch::optim::AdamW& optimizer = *optimizer_owner;

  if (options.resume) {
    TrainCheckpoint c = load_train_checkpoint(ckpt_path, &optimizer);
    if (c.fingerprint != options.fingerprint) {
      throw usage_error(ckpt_path, ": written by a run with settings fingerprint '", c.fingerprint,
                        "', this run's is '", options.fingerprint,
                        "': the settings that shape the model changed; restore them or start afresh without --resume");
    }
    if (c.world_size != world) {
      throw usage_error(ckpt_path, ": written by a run of ", c.world_size, " rank", c.world_size == 1 ? "" : "s",
                        ", this run has ", world, ": each step's global batch (ranks x batch_size x grad_accum) ",
                        "would change; resume with ", c.world_size, " rank", c.world_size == 1 ? "" : "s",
                        " or start afresh without --resume");
    }
    if (c.total_steps != total) {
      throw usage_error(ckpt_path, ": planned for ", c.total_steps, " steps, this run plans ", total,
                        " (different data or epochs): start afresh without --resume");
    }
    restore_parameters(student, c.params, ckpt_path);
    set_cpu_rng_state(c.rng_cpu, ckpt_path);
    result.start_step = c.step;
    result.losses = c.losses;
    log(concat("resumed from ", ckpt_path, " at step ", c.step, " of ", total));
  }
  std::unique_ptr<OverlappedGradientAverage> overlap;
  if (group != nullptr) {
    // The ranks start from rank 0's weights (they loaded the same model; this
    // makes it so whatever the loaders did).
    std::vector<torch::Tensor> params;
    for (auto& p : student->parameters()) params.push_back(p.detach());
    group->broadcast_from_rank0(params, "the start of fine-tuning");
    if (options.dist_bucket_mb != 0) {
      // The optimizer's parameters in the model's order (the buckets follow
      // it backwards, as backward does).
      std::unordered_set<const void*> trained;
      for (const auto& g : optimizer.param_groups()) {
        for (const auto& p : g.params()) trained.insert(p.unsafeGetTensorImpl());
      }
      std::vector<torch::Tensor> ordered;
      for (const auto& p : student->parameters()) {
        if (trained.count(p.unsafeGetTensorImpl()) != 0) ordered.push_back(p);
      }
      int64_t gradient_bytes = 0;
      for (const auto& p : ordered) gradient_bytes += 4 * p.numel();
      const int64_t bucket_bytes = options.dist_bucket_mb < 0 ? auto_bucket_bytes(gradient_bytes)
                                                              : int64_t(options.dist_bucket_mb * 1024.0 * 1024.0);
      overlap = std::make_unique<OverlappedGradientAverage>(*group, ordered, std::max<int64_t>(1, bucket_bytes));
    }
    log(concat("data parallel: rank ", rank, " of ", world, " (", group->backend(), "), ", world, " x ",
               options.grad_accum, " x ", options.batch_size, " windows per step; gradients averaged ",
               overlap ? concat("in ", overlap->bucket_count(), " buckets overlapping backward")
                       : std::string("in one all-reduce after backward")));
  }

  // Windows as an overlapping strided view over the token stream: row i is
  // stream[i*T, i*T + T + 1) without copying.
  const int64_t t = data.seq_len;
  const torch::Tensor stream = torch::tensor(data.stream, torch::kInt64).to(device);
  const torch::Tensor windows = stream.as_strided({data.windows, t + 1}, {t, 1});
  WindowSampler sampler(data.windows, options.seed);
  const int64_t rows = options.batch_size;
  // On CUDA the teacher is cheap next to a host round trip: no cache there.
  TeacherTargetCache teacher_cache(kd_teacher, data.windows, t, student->config().vocab_size, options, bf16, !cuda);
  if (teacher_cache.caching()) {
    log(concat("caching the teacher's ",
               options.teacher_top_k > 0 ? concat("top-", options.teacher_top_k, " log-probabilities") : "log-probabilities",
               " of ", teacher_cache.capacity() == data.windows ? "all " : concat(teacher_cache.capacity(), " of "),
               data.windows, " windows (", format_bytes(teacher_cache.bytes()), " host memory)"));
  } else if (kd_teacher != nullptr) {
    log(concat("the teacher runs for every micro-batch (",
               options.teacher_top_k > 0 ? concat("top-", options.teacher_top_k, " targets") : "full distribution", ")"));
  }

  auto save_checkpoint = [&](int64_t steps_done) {
    TrainCheckpoint c;
    c.fingerprint = options.fingerprint;
    c.options_json = train_options_json(options);
    c.step = steps_done;
    c.total_steps = total;
    c.params = model_state_dict(student);
    c.losses = result.losses;
    c.rng_cpu = cpu_rng_state();
    c.world_size = world;
    save_train_checkpoint(ckpt_path, c, &optimizer);
  };

  auto validate = [&](int64_t steps_done, double current_lambda) {
    std::vector<std::vector<int32_t>> docs = data.valid_documents;
    if (options.eval_max_docs > 0 && static_cast<int64_t>(docs.size()) > options.eval_max_docs) {
      docs.resize(static_cast<size_t>(options.eval_max_docs));
    }
    set_bitnet_lambda(student, 1.0);
    TextEvalOptions eval_options;
    eval_options.device = device;
    const TextEvalResult r = evaluate_documents(student, docs, eval_options);
    set_bitnet_lambda(student, current_lambda);
    student->train();
    ValidReport v;
    v.step = steps_done;
    v.top1 = r.top1;
    v.perplexity = r.perplexity;
    v.tokens = r.tokens;
    result.evals.push_back(v);
    if (hooks.on_eval) hooks.on_eval(v);
  };

  // ---- the loop ----
  double train_seconds = 0.0;
  for (int64_t step = result.start_step; step < total; ++step) {
    if (hooks.before_step) hooks.before_step(step, total);
    const auto step_start = Clock::now();
    const double lambda = lambda_at(step, total, options.warmup_fraction, options.schedule);
    const double lr = lr_at(step, total, options.lr, options.lr_warmup_steps, options.lr_schedule);
    set_bitnet_lambda(student, lambda);
    // This rank's rows of the step's global positions (see the header).
    const int64_t first_row = step * options.grad_accum * world * rows;
    const int64_t epoch = sampler.epoch_of(first_row);
    std::vector<torch::Tensor> micro_batches;
    std::vector<TeacherTargets> teacher_targets_of_step;
    for (int64_t m = 0; m < options.grad_accum; ++m) {
      torch::Tensor ids = torch::empty({rows}, torch::kInt64);
      auto id = ids.accessor<int64_t, 1>();
      const int64_t first = first_row + (m * world + rank) * rows;
      for (int64_t r = 0; r < rows; ++r) id[r] = sampler.window_at(first + r);
      micro_batches.push_back(windows.index_select(0, ids.to(device)));  // [B, T+1]
      if (kd_teacher != nullptr) teacher_targets_of_step.push_back(teacher_cache.targets(ids, micro_batches.back()));
    }
    const std::string where =
        concat("step ", step + 1, " of ", total, " (lambda ", fmt(lambda), ")",
               options.checkpoint_every > 0 ? concat("; the last checkpoint is in ", ckpt_path) : "");
    const StepStats stats =
        optimizer_step(student, micro_batches, teacher_targets_of_step, optimizer, lr, options, bf16, checkpointing, where, group,
                       overlap.get());
    train_seconds += seconds_since(step_start);

    const int64_t done = step + 1;
    result.losses.push_back(stats.loss);
    result.train_tokens += options.grad_accum * world * rows * t;
    StepReport report;
    report.step = done;
    report.total_steps = total;
    report.epoch = epoch;
    report.lambda = lambda;
    report.lr = lr;
    report.loss = result.losses.back();
    report.ce = stats.ce;
    report.kd = stats.kd;
    report.grad_norm = stats.grad_norm;
    report.elapsed_seconds = train_seconds;
    report.tokens_per_second = train_seconds > 0 ? double(result.train_tokens) / train_seconds : 0.0;
    report.eta_seconds = train_seconds / double(done - result.start_step) * double(total - done);

    if (options.eval_every > 0 && done % options.eval_every == 0 && !data.valid_documents.empty()) {
      validate(done, lambda);
    }
    const bool checkpointed = options.checkpoint_every > 0 && (done % options.checkpoint_every == 0 || done == total);
    if (checkpointed && rank == 0) save_checkpoint(done);
    if (hooks.on_step) hooks.on_step(report);
    bool stop = done < total && hooks.stop_requested && hooks.stop_requested();
    if (group != nullptr && done < total) {
      // Every rank stops at the same step when any of them was asked to.
      torch::Tensor flag = torch::full({1}, stop ? 1.0 : 0.0, torch::kFloat64);
      group->all_reduce_sum(flag, concat("the stop check after step ", done));
      stop = flag.item<double>() > 0.0;
    }
    if (stop) {
      result.stopped_at = done;
      if (!ckpt_path.empty()) {
        if (!checkpointed && rank == 0) {
          std::error_code ec;
          std::filesystem::create_directories(options.checkpoint_dir, ec);
          if (ec) {
            throw runtime_error("stopped at step ", done, " but cannot create ", options.checkpoint_dir, ": ",
                                ec.message());
          }
          save_checkpoint(done);
        }
        result.checkpoint_path = ckpt_path;
      }
      log(concat("stopped at step ", done, " of ", total,
                 ckpt_path.empty() ? " (no checkpoint: bitnet.checkpoint_dir is not set)"
                                   : "; checkpoint written to " + ckpt_path));
      break;
    }
  }
  set_bitnet_lambda(student, 1.0);
  if (group != nullptr) {
    // Rank 0's last checkpoint is complete before any rank moves on.
    group->barrier("the end of fine-tuning");
    result.all_reduce = group->gradient_stats();
  }
  result.train_seconds = train_seconds;
  result.tokens_per_second = train_seconds > 0 ? double(result.train_tokens) / train_seconds : 0.0;
  return result;
}

}  // namespace seedforge
