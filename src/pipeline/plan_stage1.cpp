// --dry-run planning (see plan_stage1.h).
#include "pipeline/plan_stage1.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "codec/seedlm_codec.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/text_format.h"
#include "eval/documents.h"
#include "eval/text_eval.h"
#include "io/model_loader.h"
#include "model/parameter_shapes.h"
#include "pipeline/stage1_memory.h"
#include "pipeline/stage1_file.h"
#include "pipeline/tensor_encoding.h"
#include "runtime/threads.h"
#include "train/bit_linear.h"
#include "train/options_from_config.h"
#include "train/token_cache.h"
#include "train/train_data.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace seedforge {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A tensor of the planned layout whose bytes deflate at most as well as a
// trained model's, so that the probe file below, deflated like a real one,
// bounds the real size from above (up to deflate's own overhead): trits and
// levels uniform over their digits (trained stories260K levels measured 2.32
// bits a 5-level weight, log2 5), scales of normal weights, uniform SeedLM
// bits. Real files come out smaller where their bytes repeat (stories260K's
// fine-tuned embedding has 265 identical rows, tokens absent from the
// training text, so its SeedLM blocks repeat). Large matrices repeat
// a drawn block of about 2^20 weights row-wise (its packed bytes are wider
// than deflate's 32 KB window) to keep the plan fast for multi-GB models.
Stage1Tensor typical_entry(const PlannedTensor& p, const BitNetOptions& bitnet, bool fp16, at::Generator& rng) {
  if (p.codec == "ternary" || p.codec == "levels") {
    const int64_t rows = p.shape[0], cols = p.shape[1];
    const int64_t block_rows = std::min<int64_t>(rows, std::max<int64_t>(1, (int64_t{1} << 20) / std::max<int64_t>(cols, 1)));
    const torch::Tensor gamma = ternary_scale(torch::randn({block_rows, cols}, rng), bitnet);  // [], [rows, 1] or [rows, groups]
    const int64_t top = std::max(1, bitnet.max_level);
    torch::Tensor q = torch::randint(-top, top + 1, {block_rows, cols}, rng, torch::kInt8);
    torch::Tensor g = gamma.dim() == 0 ? gamma.reshape({1}) : gamma.reshape({block_rows, -1});
    if (block_rows < rows) {
      const int64_t repeats = (rows + block_rows - 1) / block_rows;
      q = q.repeat({repeats, 1}).narrow(0, 0, rows).contiguous();
      if (gamma.dim() != 0) g = g.repeat({repeats, 1}).narrow(0, 0, rows);
    }
    return encode_ternary_tensor(p.name, q, g.reshape({-1}).contiguous(), bitnet);
  }
  Stage1Tensor t;
  t.name = p.name;
  t.codec = p.codec;
  t.shape = p.shape;
  if (p.codec == "raw") {
    t.payload = (1.0 + 0.1 * torch::randn(p.shape, rng)).to(fp16 ? torch::kFloat16 : torch::kFloat32);
  } else if (p.codec == "int8") {
    t.scale = torch::rand({p.shape[0]}, rng);
    t.payload = torch::randn(p.shape, rng).mul(32).round().clamp(-127, 127).to(torch::kInt8);
  } else {  // seedlm: one fp32 scale and the bit stream
    t.scale = torch::ones({1});
    t.payload = torch::randint(0, 256, {p.bytes - 4}, rng, torch::kUInt8);
  }
  return t;
}

// Above this many parameters the plan does not time sample batches (the
// model would have to be built in memory): 50 M parameters take 200 MB a copy.
constexpr int64_t kTimedSampleParameters = 50'000'000;

// fp32 GEMM throughput of this machine and thread count: [512 x 1024] x
// [1024 x 1024], the best of a few runs after a warm-up.
double measured_matmul_flops_per_second() {
  const torch::Tensor a = torch::randn({512, 1024}), b = torch::randn({1024, 1024});
  torch::Tensor c = torch::mm(a, b);
  double best = 1e300;
  for (int i = 0; i < 5; ++i) {
    const auto t = Clock::now();
    c = torch::mm(a, b);
    best = std::min(best, since(t));
  }
  return 2.0 * 512 * 1024 * 1024 / std::max(best, 1e-9);
}

// Seconds to read the weights: the first 64 MB of the largest file timed,
// scaled to all the input's bytes (a warm page cache reads faster).
double read_seconds_estimate(const std::string& input, int64_t input_bytes) {
  std::string largest = input;
  if (fs::is_directory(input)) {
    uintmax_t size = 0;
    for (const auto& e : fs::recursive_directory_iterator(input)) {
      if (e.is_regular_file() && e.file_size() > size) {
        size = e.file_size();
        largest = e.path().string();
      }
    }
  }
  std::ifstream in(largest, std::ios::binary);
  std::vector<char> buffer(1 << 20);
  int64_t done = 0;
  const auto t = Clock::now();
  while (done < (64 << 20) && in.read(buffer.data(), std::streamsize(buffer.size()))) done += int64_t(buffer.size());
  done += int64_t(in.gcount());
  const double seconds = since(t);
  return done > 0 ? seconds * double(input_bytes) / double(done) : 0.0;
}

}  // namespace

Stage1Plan plan_stage1(const std::string& input, const std::string& output, const Stage1Config& config) {
  validate(config, "config");
  check_output_path_writable(output);
  Stage1Plan plan;
  plan.input = input;
  plan.output = output;
  plan.threads = configure_threads(config.hardware.threads);
  const SeedLMParams seedlm = seedlm_params_from_config(config.seedlm);
  TrainOptions train = train_options_from_config(config);
  // The ranks the stage1 tool would start (hardware.processes): the plan's
  // steps and tokens are the run's, its memory and time one rank's.
  train.world_size = config.hardware.processes;
  plan.train_ranks = train.world_size;
  const BitNetOptions bitnet = bitnet_options(train);
  const bool fp16 = config.encoding.vector == VectorEncoding::kFp16;

  // The model's shape from its headers: no weight is read where the format
  // has a header (llama2.c, a Hugging Face folder), whatever the model's size.
  auto t0 = Clock::now();
  Checkpoint head = read_checkpoint_header(input);
  plan.weights_read = !head.tensors.empty();
  const std::unique_ptr<Tokenizer> tokenizer = load_checkpoint_tokenizer(head, config.eval.tokenizer, input);
  const double header_seconds = since(t0);
  plan.input_bytes = fs::is_directory(input) ? 0 : static_cast<int64_t>(file_size_bytes(input));
  if (fs::is_directory(input)) {
    for (const auto& e : fs::recursive_directory_iterator(input)) {
      if (e.is_regular_file()) plan.input_bytes += static_cast<int64_t>(e.file_size());
    }
  }
  plan.estimated_seconds.push_back(
      {"load", plan.weights_read ? header_seconds : header_seconds + read_seconds_estimate(input, plan.input_bytes)});
  const ModelConfig& mc = head.config;

  // Codecs and the exact payload sizes, then the whole file's size measured
  // on a file of that layout with payloads that deflate no better than real
  // ones (typical_entry), deflated as the real one will be.
  Stage1File skeleton;
  skeleton.config = mc;
  skeleton.tokenizer_kind = tokenizer->kind();
  skeleton.tokenizer_bytes = tokenizer->to_bytes();
  skeleton.seedlm = seedlm;
  skeleton.bitnet = {true, bitnet.activation_bits, bitnet.per_row_scale, bitnet.scale_group, bitnet.input_norm};
  skeleton.training = {{"steps", 0}, {"tokens", 0}, {"seed", int64_t(train.seed)}};
  auto rng = at::make_generator<at::CPUGeneratorImpl>(/*seed=*/20261207);
  for (const ParameterShape& shape : parameter_shapes(mc)) {
    PlannedTensor p;
    p.name = shape.name;
    p.shape = shape.shape;
    p.codec = planned_codec(p.name, p.shape, is_projection_weight(p.name), config);
    BitNetOptions layer = bitnet;  // this projection's levels
    layer.max_level = p.codec == "levels" ? planned_max_level(p.name, config) : 1;
    p.bytes = planned_payload_bytes(p.codec, p.shape, layer, fp16, seedlm);
    if (p.codec == "seedlm") plan.seedlm_blocks += seedlm_block_count(shape.numel(), seedlm);
    plan.parameters += shape.numel();
    skeleton.tensors.push_back(typical_entry(p, layer, fp16, rng));
    plan.tensors.push_back(std::move(p));
  }
  Stage1Report typical;  // metrics of typical length (17 significant digits per float)
  typical.input_bytes = plan.input_bytes;
  typical.parameters = plan.parameters;
  typical.before.top1 = typical.after.top1 = typical.retention = 0.57618069350295809;
  typical.before.perplexity = typical.after.perplexity = typical.final_loss = 5.2575012345678901;
  typical.before.tokens = 74203;
  typical.train_steps = 1000;
  typical.train_tokens = 1000000;
  skeleton.metrics_json = stage1_embedded_metrics(typical);
  {
    std::string dir = (fs::temp_directory_path() / "seedforge-plan-XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) throw runtime_error("cannot create a temporary folder for the size estimate");
    const std::string probe = dir + "/probe.stage1.pt";
    write_stage1_file(probe, skeleton);
    plan.estimated_output_bytes = static_cast<int64_t>(file_size_bytes(probe));
    fs::remove_all(dir);
  }
  skeleton.tensors.clear();
  plan.estimated_ratio = double(plan.input_bytes) / double(std::max<int64_t>(plan.estimated_output_bytes, 1));

  std::vector<std::string> docs = read_documents(resolve_eval_text(config));
  if (config.eval.max_docs > 0 && int64_t(docs.size()) > config.eval.max_docs) docs.resize(config.eval.max_docs);
  const auto tokens = tokenize_documents(docs, *tokenizer, mc.max_seq_len);
  for (const auto& d : tokens) plan.eval_tokens += int64_t(d.size()) - 1;

  const bool blockwise = train.mode == "blockwise";
  const bool fine_tune = train.max_steps > 0 || train.epochs > 0 || blockwise;
  const bool cuda = config.hardware.device == Device::kCuda;
  int64_t windows = 0, stream_tokens = 0;
  if (fine_tune) {
    TrainData data = load_train_data(resolve_train_text(config), "", *tokenizer, train, mc.max_seq_len,
                                     resolve_token_cache_dir(config.bitnet.token_cache_dir));
    // Sampled text (bitnet.synthetic_tokens) is not sampled in a dry run: its windows are estimated.
    windows = data.windows + train.synthetic_tokens / train.seq_len;
    stream_tokens = int64_t(data.stream.size()) + train.synthetic_tokens;
    if (blockwise) {
      plan.train_steps = mc.n_layers * train.block_steps + train.e2e_steps;
      plan.train_tokens = plan.train_steps * train.batch_size * train.seq_len;
    } else {
      plan.train_steps = total_steps(train, windows);
      plan.train_tokens = plan.train_steps * train.world_size * train.grad_accum * train.batch_size * train.seq_len;
    }
  }

  // Memory: the fine-tuning terms (memory_estimate.h) and every phase's host
  // and device peak (stage1_memory.h).
  plan.memory_device = cuda ? "cuda" : "cpu";
  Stage1MemoryInputs memory = stage1_memory_inputs(config, mc, train, fine_tune);
  plan.memory = estimate_training_memory(mc, train, train.kd_weight > 0, cuda, memory.bf16, memory.activation_checkpointing);
  memory.input_file_bytes = plan.input_bytes;
  memory.config_in_header = checkpoint_config_in_header(input);
  memory.original_projection_bytes = head.projection_bytes;
  memory.train_tokens = stream_tokens;
  memory.train_windows = windows;
  memory.output_bytes = plan.estimated_output_bytes;
  memory.eval_batch_tokens = std::min<int64_t>(text_eval_batch_tokens(mc.vocab_size), std::max<int64_t>(plan.eval_tokens, 1));
  memory.eval_tokens = plan.eval_tokens;
  plan.phases = estimate_stage1_memory(memory);

  // Time: a small model is timed on a few batches of a model of its shape
  // (random weights: the arithmetic is the same); a large one from its
  // floating-point operations at this machine's measured matrix-multiply rate.
  double eval_seconds = 0, train_seconds = 0;
  if (plan.parameters <= kTimedSampleParameters) {
    plan.timing = "timed on sample batches of a model of this shape";
    Transformer model = plan.weights_read ? build_model(mc, head.tensors, input) : Transformer(mc);
    head.tensors.clear();
    model->eval();
    std::vector<std::vector<int32_t>> sample(tokens.begin(), tokens.begin() + std::min<size_t>(tokens.size(), 40));
    t0 = Clock::now();
    const TextEvalResult probe_eval = evaluate_documents(model, sample);
    eval_seconds = probe_eval.tokens > 0 ? since(t0) * double(plan.eval_tokens) / double(probe_eval.tokens) : 0.0;
    if (fine_tune) {
      Transformer student = build_model(mc, model_state_dict(model), input);
      convert_to_bitnet(student, bitnet_options(train));
      apply_projection_levels(student, train.projection_levels, "config");
      student->train();
      Transformer teacher{nullptr};
      if (train.kd_weight > 0) teacher = freeze_as_teacher(model);
      auto batch = torch::randint(0, mc.vocab_size, {train.batch_size, train.seq_len + 1}, torch::kInt64);
      auto micro = [&] {
        auto loss = micro_batch_loss(student, teacher ? &teacher : nullptr, batch, train, false, false);
        loss.loss.backward();
      };
      micro();  // warm-up
      t0 = Clock::now();
      for (int i = 0; i < 3; ++i) micro();
      const double micro_batch = since(t0) / 3;
      // A block's step runs one of n_layers blocks: about 1 / n_layers of a
      // whole micro-batch, so a block-wise run costs about block_steps
      // micro-batches, plus its end-to-end steps.
      train_seconds = blockwise ? micro_batch * double(train.block_steps + train.e2e_steps)
                                : micro_batch * double(plan.train_steps * train.grad_accum);
    }
  } else {
    const double rate = measured_matmul_flops_per_second();
    plan.timing = concat("from the operation count at this machine's measured fp32 matrix-multiply rate (",
                         fixed(rate / 1e9, 1), " GFLOP/s): a lower bound");
    const double p = double(plan.parameters);
    eval_seconds = 2.0 * p * double(plan.eval_tokens) / rate;
    // Forward and backward (6 P a token), and the teacher's forward (2 P);
    // block-wise: each step runs one block (P / n_layers).
    const double per_token = (6.0 + (train.kd_weight > 0 ? 2.0 : 0.0)) * p;
    const double tokens_per_step = double(train.batch_size * train.seq_len);
    train_seconds = blockwise ? per_token * tokens_per_step *
                                    (double(train.block_steps) + double(train.e2e_steps)) / rate
                              : per_token * double(plan.train_tokens / train.world_size) / rate;
  }
  // Each evaluation of the model: the evaluation text (and HellaSwag, about
  // half as long again); the baseline and the compressed model's evaluation
  // add the start of the training text when fine-tuning, as many tokens as
  // the evaluation text (run_stage1.cpp).
  const double evaluation = eval_seconds * (config.eval.hellaswag.empty() ? 1.0 : 1.5);
  const double with_training_text = evaluation + (fine_tune ? eval_seconds : 0.0);
  plan.estimated_seconds.push_back({"baseline evaluation", with_training_text});
  plan.estimated_seconds.push_back({"bitnet conversion and fine-tuning", train_seconds});

  // Encoding: SeedLM blocks at the rate measured on a sample of normal values
  // (the search costs the same whatever the values).
  double encode_seconds = 0;
  if (plan.seedlm_blocks > 0) {
    const torch::Tensor w = torch::randn({512 * int64_t(seedlm.C)}, torch::kFloat32);
    t0 = Clock::now();
    seedlm_encode(w.data_ptr<float>(), w.numel(), seedlm);
    const double per_block = since(t0) / double(seedlm_block_count(w.numel(), seedlm));
    encode_seconds = per_block * double(plan.seedlm_blocks);
  }
  plan.estimated_seconds.push_back({"encoding", encode_seconds});
  plan.estimated_seconds.push_back({"compressed evaluation", with_training_text});
  plan.estimated_seconds.push_back({"write", 0.0});
  plan.estimated_seconds.push_back({"reload and evaluate", evaluation});
  return plan;
}

nlohmann::json plan_json(const Stage1Plan& p) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const PlannedTensor& t : p.tensors) {
    tensors.push_back({{"name", t.name}, {"codec", t.codec}, {"shape", t.shape}, {"bytes", t.bytes}});
  }
  nlohmann::json memory = nlohmann::json::object();
  for (const auto& [name, bytes] : p.memory.terms) memory[name] = bytes;
  nlohmann::json phases = nlohmann::json::array();
  for (const PhaseMemory& m : p.phases) {
    nlohmann::json host = nlohmann::json::object(), device = nlohmann::json::object();
    for (const auto& [name, bytes] : m.host.terms) host[name] = bytes;
    for (const auto& [name, bytes] : m.device.terms) device[name] = bytes;
    phases.push_back({{"phase", m.phase},
                      {"host_bytes", m.host.total_bytes()},
                      {"device_bytes", m.device.total_bytes()},
                      {"host", host},
                      {"device", device}});
  }
  nlohmann::json seconds = nlohmann::json::object();
  for (const StageTiming& s : p.estimated_seconds) seconds[s.stage] = s.seconds;
  return {{"input", p.input},
          {"output", p.output},
          {"input_bytes", p.input_bytes},
          {"parameters", p.parameters},
          {"tensors", tensors},
          {"estimated_output_bytes", p.estimated_output_bytes},
          {"estimated_ratio", p.estimated_ratio},
          {"memory_device", p.memory_device},
          {"memory_bytes", memory},
          {"memory_total_bytes", p.memory.total_bytes()},
          {"train_steps", p.train_steps},
          {"train_tokens", p.train_tokens},
          {"train_ranks", p.train_ranks},
          {"eval_tokens", p.eval_tokens},
          {"seedlm_blocks", p.seedlm_blocks},
          {"estimated_seconds", seconds},
          {"timing", p.timing},
          {"weights_read", p.weights_read},
          {"phases", phases},
          {"threads", p.threads}};
}

std::string plan_markdown(const Stage1Plan& p) {
  std::ostringstream out;
  out << std::fixed;
  out << "## Stage 1 dry run: " << p.input << " -> " << p.output << "\n\n";
  out << "| tensor | codec | shape | bytes |\n|---|---|---|---|\n";
  for (const auto& t : p.tensors) {
    std::string shape;
    for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? "x" : "") + std::to_string(t.shape[i]);
    out << "| " << t.name << " | " << t.codec << " | " << shape << " | " << t.bytes << " |\n";
  }
  out << "\ninput " << p.input_bytes << " bytes, " << p.parameters << " parameters\n";
  out << "estimated output at most about " << p.estimated_output_bytes << " bytes, ratio " << std::setprecision(2)
      << p.estimated_ratio << "x or better (payloads taken as deflating no better than random digits and bits; "
      << "the bytes column is before deflate)\n";
  out << "fine-tuning: " << p.train_steps << " steps, " << p.train_tokens << " tokens"
      << (p.train_ranks > 1 ? concat(" on ", p.train_ranks, " ranks (memory and time: one rank's)") : "") << "; memory ("
      << p.memory_device
      << ") " << p.memory.describe() << "\n";
  out << (p.weights_read ? "(the format holds its config only in its tensors: the weights were read)\n"
                         : "(from the checkpoint's headers: no weight was read)\n");
  out << "\n| phase | host | device |\n|---|---|---|\n";
  for (const PhaseMemory& m : p.phases) {
    out << "| " << m.phase << " | " << format_bytes(m.host.total_bytes()) << " | "
        << (m.device.terms.empty() ? std::string("-") : format_bytes(m.device.total_bytes())) << " |\n";
  }
  if (!p.phases.empty()) {
    const PhaseMemory& h = host_peak(p.phases);
    out << "\nhost peak: " << h.phase << ", " << h.host.describe() << "\n";
    const PhaseMemory& d = device_peak(p.phases);
    if (!d.device.terms.empty()) out << "device peak: " << d.phase << ", " << d.device.describe() << "\n";
  }
  out << "\n| stage | estimated seconds |\n|---|---|\n";
  double total = 0;
  for (const auto& s : p.estimated_seconds) {
    out << "| " << s.stage << " | " << std::setprecision(1) << s.seconds << " |\n";
    total += s.seconds;
  }
  out << "| total | " << std::setprecision(1) << total << " |\n\n(" << p.threads << " threads; times " << p.timing
      << "; nothing was written)\n";
  return out.str();
}

}  // namespace seedforge
