// Block-wise ternary fine-tuning (see blockwise.h).
#include "train/blockwise.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "common/error.h"
#include "common/text_format.h"
#include "train/bit_linear.h"
#include "train/memory_estimate.h"
#include "train/schedule.h"
#include "train/train_checkpoint.h"
#include "train/train_forward.h"
#include "train/trainer.h"

namespace seedforge {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

DecoderLayerImpl& layer_of(Transformer& model, int64_t l) {
  return *model->model->layers[static_cast<size_t>(l)]->as<DecoderLayerImpl>();
}

void set_block_lambda(Transformer& student, int64_t l, double lambda) {
  const std::string prefix = concat("model.layers.", l, ".");
  for (const auto& [name, layer] : bit_linear_layers(student)) {
    if (name.compare(0, prefix.size(), prefix) == 0) layer->set_lambda(lambda);
  }
}

// Block l of `model` over every row of x [N, T, C] (host), `rows` at a time
// on `device`, without autograd: [N, T, C] on the host in x's dtype.
torch::Tensor block_over_rows(Transformer& model, int64_t l, const torch::Tensor& x, torch::Device device,
                              torch::ScalarType compute, int64_t rows, bool attention_kernel) {
  torch::NoGradGuard no_grad;
  torch::Tensor out = torch::empty_like(x);
  for (int64_t r = 0; r < x.size(0); r += rows) {
    const int64_t n = std::min(rows, x.size(0) - r);
    const torch::Tensor in = x.narrow(0, r, n).to(device, compute);
    out.narrow(0, r, n).copy_(training_layer_forward(model, l, in, attention_kernel));
  }
  return out;
}

// The sampler of block l's training rows: its own seed, so that a block's
// steps do not depend on what ran before it (a resume continues exactly).
uint64_t block_seed(uint64_t seed, int64_t l) { return seed ^ (0xD1B54A32D192ED03ull * uint64_t(l + 1)); }

}  // namespace

std::string blockwise_checkpoint_file(const std::string& checkpoint_dir) {
  return (std::filesystem::path(checkpoint_dir) / "bitnet_blockwise.pt").string();
}

torch::Tensor block_mse(Transformer& student, int64_t layer, const torch::Tensor& x, const torch::Tensor& y,
                        bool attention_kernel) {
  const torch::Tensor out = training_layer_forward(student, layer, x, attention_kernel);  // [B, T, C]
  return (out.to(torch::kFloat32) - y.to(torch::kFloat32)).pow(2).mean();
}

BlockwiseResult train_blockwise(Transformer& student, Transformer& original, const TrainData& data,
                                const TrainOptions& options, const BlockwiseHooks& hooks) {
  auto log = [&](const std::string& line) {
    if (hooks.log) hooks.log(line);
  };
  // ---- checks, before any work ----
  validate_train_options(options, "block-wise fine-tuning options");
  if (!is_bitnet(student)) throw usage_error("train_blockwise: convert the student with convert_to_bitnet() first");
  if (is_bitnet(original)) throw usage_error("train_blockwise: the original must be the dense model");
  if (bitnet_options_of(student) != bitnet_options(options)) {
    throw usage_error("train_blockwise: the student was converted with other BitNet options than the training options");
  }
  const ModelConfig& c = student->config();
  const ModelConfig& oc = original->config();
  if (c.dim != oc.dim || c.n_layers != oc.n_layers || c.hidden_dim != oc.hidden_dim || c.n_heads != oc.n_heads ||
      c.n_kv_heads != oc.n_kv_heads) {
    throw usage_error("train_blockwise: the student and the original differ in shape");
  }
  if (data.windows <= 0 || data.seq_len != options.seq_len) {
    throw usage_error("train_blockwise: the training data was packed for seq_len ", data.seq_len, ", options say ",
                      options.seq_len);
  }
  if (options.block_inputs != "converted" && options.block_inputs != "original") {
    throw usage_error("bitnet.block_inputs must be \"converted\" or \"original\", got \"", options.block_inputs, "\"");
  }
  const bool cuda = options.device == "cuda";
  if (cuda && !torch::cuda::is_available()) {
    throw usage_error("hardware.device is \"cuda\" but libtorch sees no CUDA device (CPU-only build or no GPU)");
  }
  const bool bf16 = options.bf16 < 0 ? cuda : options.bf16 == 1;
  const torch::Device device = cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  const torch::ScalarType stored = bf16 ? torch::kBFloat16 : torch::kFloat32;  // X and Y on the host
  const torch::ScalarType compute = bf16 ? torch::kBFloat16 : torch::kFloat32;
  const bool from_original = options.block_inputs == "original";
  const int64_t n = std::min<int64_t>(options.block_windows, data.windows), t = data.seq_len;
  const int64_t layers = c.n_layers, rows = options.batch_size;
  const std::string ckpt_path =
      options.checkpoint_dir.empty() ? "" : blockwise_checkpoint_file(options.checkpoint_dir);
  const bool checkpointing = options.checkpoint_every > 0 && !ckpt_path.empty();
  if (options.resume && !std::filesystem::is_regular_file(ckpt_path)) {
    throw input_error(ckpt_path, ": no block-wise checkpoint to resume from (file missing)");
  }
  if (checkpointing) {
    std::error_code ec;
    std::filesystem::create_directories(options.checkpoint_dir, ec);
    if (ec) throw usage_error("bitnet.checkpoint_dir ", options.checkpoint_dir, ": cannot create it: ", ec.message());
  }

  BlockwiseResult result;
  std::vector<double> block_losses;  // last MSE of each finished block (the checkpoint's "losses")
  if (options.resume) {
    const TrainCheckpoint k = load_train_checkpoint(ckpt_path, nullptr);
    if (k.fingerprint != options.fingerprint) {
      throw usage_error(ckpt_path, ": written by a run with settings fingerprint '", k.fingerprint, "', this run's is '",
                        options.fingerprint, "': restore them or start afresh without --resume");
    }
    if (k.total_steps != layers) {
      throw usage_error(ckpt_path, ": a block-wise checkpoint of ", k.total_steps, " blocks, the model has ", layers);
    }
    restore_parameters(student, k.params, ckpt_path);
    result.start_block = k.step;
    block_losses = k.losses;
    log(concat("resumed block-wise fine-tuning from ", ckpt_path, " after block ", k.step, " of ", layers));
    if (result.start_block == layers) {
      set_bitnet_lambda(student, 1.0);
      for (auto& p : student->parameters()) p.set_requires_grad(false);
      return result;  // every block done: nothing to recompute
    }
  }

  // ---- calibration windows: the first n of the trainer's shuffled order ----
  const auto start = Clock::now();
  torch::Tensor tokens = torch::empty({n, t}, torch::kInt64);  // [N, T]
  {
    WindowSampler sampler(data.windows, options.seed);
    auto tok = tokens.accessor<int64_t, 2>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t w = sampler.window_at(i);
      for (int64_t j = 0; j < t; ++j) tok[i][j] = data.stream[size_t(w * t + j)];
    }
  }
  log(concat("block-wise fine-tuning: ", layers, " blocks x ", options.block_steps, " steps of ", rows, " of ", n,
             " calibration windows (", format_bytes(2.0 * double(n * t * c.dim) * (bf16 ? 2.0 : 4.0)),
             " of block inputs and targets in host memory), inputs from the ",
             from_original ? "original's blocks" : "converted blocks", ", on ", device.str()));

  set_bitnet_lambda(student, 1.0);
  for (auto& p : student->parameters()) p.set_requires_grad(false);
  torch::Tensor x, x_original;  // [N, T, C] host: the student path's and the original's block inputs
  {
    torch::NoGradGuard no_grad;
    x = student->model->embed_tokens->forward(tokens).to(stored);
    if (from_original) x_original = original->model->embed_tokens->forward(tokens).to(stored);
  }
  const int64_t forward_rows = std::max<int64_t>(rows, 16);
  auto on_device = [&](Transformer& model, int64_t l, bool there) {
    if (cuda) layer_of(model, l).to(there ? device : torch::Device(torch::kCPU));
  };
  // A resumed run recomputes the inputs of its first block through the frozen ones.
  for (int64_t l = 0; l < result.start_block; ++l) {
    on_device(student, l, true);
    if (from_original) on_device(original, l, true);
    if (from_original) {
      x_original = block_over_rows(original, l, x_original, device, compute, forward_rows, options.attention_kernel);
    } else {
      x = block_over_rows(student, l, x, device, compute, forward_rows, options.attention_kernel);
    }
    on_device(student, l, false);
    if (from_original) on_device(original, l, false);
  }

  // ---- block by block ----
  for (int64_t l = result.start_block; l < layers; ++l) {
    const auto block_start = Clock::now();
    const torch::Tensor& inputs = from_original ? x_original : x;
    on_device(original, l, true);
    const torch::Tensor targets =
        block_over_rows(original, l, inputs, device, compute, forward_rows, options.attention_kernel);  // Y_l
    on_device(original, l, false);
    on_device(student, l, true);

    // The block's loss at lambda 1 on a fixed set of calibration windows:
    // what its steps bought over plain rounding.
    const int64_t probe_rows = std::min<int64_t>(n, 32);
    auto probe_mse = [&] {
      torch::NoGradGuard no_grad;
      set_block_lambda(student, l, 1.0);
      double sum = 0.0;
      for (int64_t r = 0; r < probe_rows; r += forward_rows) {
        const int64_t k = std::min(forward_rows, probe_rows - r);
        sum += block_mse(student, l, inputs.narrow(0, r, k).to(device, compute), targets.narrow(0, r, k).to(device, compute),
                         options.attention_kernel).item<double>() * double(k);
      }
      return sum / double(probe_rows);
    };
    BlockReport report;
    report.block = l;
    report.rounded_mse = probe_mse();

    std::vector<torch::Tensor> params = layer_of(student, l).parameters();
    for (auto& p : params) p.set_requires_grad(true);
    std::unique_ptr<torch::optim::AdamW> optimizer = make_optimizer(params, options);
    WindowSampler sampler(n, block_seed(options.seed, l));
    for (int64_t s = 0; s < options.block_steps; ++s) {
      set_block_lambda(student, l, lambda_at(s, options.block_steps, options.warmup_fraction, options.schedule));
      set_learning_rate(*optimizer, lr_at(s, options.block_steps, options.lr, options.lr_warmup_steps, options.lr_schedule));
      torch::Tensor ids = torch::empty({rows}, torch::kInt64);
      for (int64_t r = 0; r < rows; ++r) ids[r] = sampler.window_at(s * rows + r);
      const torch::Tensor xb = inputs.index_select(0, ids).to(device, compute);   // [B, T, C]
      const torch::Tensor yb = targets.index_select(0, ids).to(device, compute);  // [B, T, C]
      optimizer->zero_grad();
      const torch::Tensor loss = block_mse(student, l, xb, yb, options.attention_kernel);
      const double value = loss.item<double>();
      if (!std::isfinite(value)) {
        throw runtime_error("block-wise fine-tuning diverged: the loss is ", value, " at step ", s + 1, " of block ", l,
                            ": lower bitnet.lr or set bitnet.grad_clip");
      }
      loss.backward();
      clip_gradients(params, options.grad_clip);
      optimizer->step();
    }
    optimizer.reset();
    for (auto& p : params) {
      p.set_requires_grad(false);
      p.mutable_grad().reset();
    }
    report.trained_mse = probe_mse();  // leaves the block at lambda 1
    // The next block's inputs.
    if (from_original) {
      x_original = targets;
    } else if (l + 1 < layers) {
      x = block_over_rows(student, l, x, device, compute, forward_rows, options.attention_kernel);
    }
    on_device(student, l, false);
    report.seconds = seconds_since(block_start);
    result.train_tokens += options.block_steps * rows * t;
    result.blocks.push_back(report);
    block_losses.push_back(report.trained_mse);
    log(concat("block ", l + 1, "/", layers, ": output mse ", scientific(report.rounded_mse, 3), " rounded, ",
               scientific(report.trained_mse, 3), " after ", options.block_steps, " steps (",
               fixed(report.seconds, 1), " s)"));
    if (hooks.on_block) hooks.on_block(report);
    const int64_t done = l + 1;
    const bool stop = done < layers && hooks.stop_requested && hooks.stop_requested();
    if (checkpointing || (stop && !ckpt_path.empty())) {
      TrainCheckpoint k;
      k.fingerprint = options.fingerprint;
      k.options_json = train_options_json(options);
      k.step = done;
      k.total_steps = layers;
      k.params = model_state_dict(student);
      k.losses = block_losses;
      k.rng_cpu = at::detail::getDefaultCPUGenerator().get_state();
      save_train_checkpoint(ckpt_path, k, nullptr);
      result.checkpoint_path = ckpt_path;
    }
    if (stop) {
      result.stopped_after = done;
      break;
    }
  }
  result.seconds = seconds_since(start);
  return result;
}

}  // namespace seedforge
