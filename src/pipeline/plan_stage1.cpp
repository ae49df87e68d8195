// --dry-run planning (see plan_stage1.h).
#include "pipeline/plan_stage1.h"

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "codec/seedlm_codec.h"
#include "common/error.h"
#include "common/file_util.h"
#include "eval/documents.h"
#include "eval/text_eval.h"
#include "io/model_loader.h"
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

// An entry of the planned layout with zero values: the same record sizes as
// the real file's.
Stage1Tensor zero_entry(const PlannedTensor& p, const BitNetOptions& bitnet, bool fp16) {
  if (p.codec == "ternary") {
    const int64_t rows = p.shape[0], cols = p.shape[1];
    return encode_ternary_tensor(p.name, torch::zeros({rows, cols}, torch::kInt8),
                                 torch::zeros({ternary_scale_count(rows, cols, bitnet)}), bitnet);
  }
  Stage1Tensor t;
  t.name = p.name;
  t.codec = p.codec;
  t.shape = p.shape;
  if (p.codec == "raw") {
    t.payload = torch::zeros(p.shape, fp16 ? torch::kFloat16 : torch::kFloat32);
  } else if (p.codec == "int8") {
    t.scale = torch::zeros({p.shape[0]});
    t.payload = torch::zeros(p.shape, torch::kInt8);
  } else {  // seedlm: one fp32 scale and the bit stream
    t.scale = torch::zeros({1});
    t.payload = torch::zeros({p.bytes - 4}, torch::kUInt8);
  }
  return t;
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
  const BitNetOptions bitnet = bitnet_options(train);
  const bool fp16 = config.encoding.vector == VectorEncoding::kFp16;

  auto t0 = Clock::now();
  LoadedModel m = load_model(input, config.eval.tokenizer);
  plan.estimated_seconds.push_back({"load", since(t0)});
  plan.input_bytes = fs::is_directory(input) ? 0 : static_cast<int64_t>(file_size_bytes(input));
  if (fs::is_directory(input)) {
    for (const auto& e : fs::recursive_directory_iterator(input)) {
      if (e.is_regular_file()) plan.input_bytes += static_cast<int64_t>(e.file_size());
    }
  }
  const ModelConfig& mc = m.checkpoint.config;

  // Codecs and the exact payload sizes, then the whole file's size measured
  // on a file of that layout with zero payloads.
  Stage1File skeleton;
  skeleton.config = mc;
  skeleton.tokenizer_kind = m.tokenizer->kind();
  skeleton.tokenizer_bytes = m.tokenizer->to_bytes();
  skeleton.seedlm = seedlm;
  skeleton.bitnet = {true, bitnet.activation_bits, bitnet.per_row_scale, bitnet.scale_group, bitnet.input_norm};
  skeleton.training = {{"steps", 0}, {"tokens", 0}, {"seed", int64_t(train.seed)}};
  for (const auto& [name, value] : model_state_dict(m.model)) {
    PlannedTensor p;
    p.name = name;
    p.shape = value.sizes().vec();
    p.codec = planned_codec(name, p.shape, is_projection_weight(name), config);
    p.bytes = planned_payload_bytes(p.codec, p.shape, bitnet, fp16, seedlm);
    if (p.codec == "seedlm") plan.seedlm_blocks += seedlm_block_count(value.numel(), seedlm);
    plan.parameters += value.numel();
    skeleton.tensors.push_back(zero_entry(p, bitnet, fp16));
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
  plan.estimated_ratio = double(plan.input_bytes) / double(std::max<int64_t>(plan.estimated_output_bytes, 1));

  // Evaluation time from one timed batch of the evaluation text.
  std::vector<std::string> docs = read_documents(resolve_eval_text(config));
  if (config.eval.max_docs > 0 && int64_t(docs.size()) > config.eval.max_docs) docs.resize(config.eval.max_docs);
  const auto tokens = tokenize_documents(docs, *m.tokenizer, mc.max_seq_len);
  for (const auto& d : tokens) plan.eval_tokens += int64_t(d.size()) - 1;
  std::vector<std::vector<int32_t>> sample(tokens.begin(), tokens.begin() + std::min<size_t>(tokens.size(), 40));
  t0 = Clock::now();
  const TextEvalResult probe_eval = evaluate_documents(m.model, sample);
  const double eval_seconds = probe_eval.tokens > 0 ? since(t0) * double(plan.eval_tokens) / double(probe_eval.tokens) : 0.0;
  plan.estimated_seconds.push_back({"baseline evaluation", eval_seconds});

  // Fine-tuning: memory estimate, step count, and two timed micro-batches.
  const bool fine_tune = train.max_steps > 0 || train.epochs > 0;
  const bool cuda = config.hardware.device == Device::kCuda;
  plan.memory_device = cuda ? "cuda" : "cpu";
  plan.memory = estimate_training_memory(mc, train, train.kd_weight > 0, cuda, cuda, cuda);
  double train_seconds = 0;
  if (fine_tune) {
    TrainData data = load_train_data(resolve_train_text(config), "", *m.tokenizer, train, mc.max_seq_len,
                                     resolve_token_cache_dir(config.bitnet.token_cache_dir));
    // Sampled text (bitnet.synthetic_tokens) is not sampled in a dry run: its windows are estimated.
    plan.train_steps = total_steps(train, data.windows + train.synthetic_tokens / train.seq_len);
    plan.train_tokens = plan.train_steps * train.grad_accum * train.batch_size * train.seq_len;
    Transformer student = build_model(mc, model_state_dict(m.model), input);
    convert_to_bitnet(student, bitnet_options(train));
    student->train();
    Transformer teacher{nullptr};
    if (train.kd_weight > 0) teacher = make_teacher(m.model);
    auto windows = torch::randint(0, mc.vocab_size, {train.batch_size, train.seq_len + 1}, torch::kInt64);
    auto micro = [&] {
      auto loss = micro_batch_loss(student, teacher ? &teacher : nullptr, windows, train, false, false);
      loss.loss.backward();
    };
    micro();  // warm-up
    t0 = Clock::now();
    for (int i = 0; i < 3; ++i) micro();
    train_seconds = since(t0) / 3 * double(plan.train_steps * train.grad_accum);
  }
  plan.estimated_seconds.push_back({"bitnet conversion and fine-tuning", train_seconds});

  // Encoding: SeedLM blocks at the rate measured on a sample of the embeddings.
  double encode_seconds = 0;
  if (plan.seedlm_blocks > 0) {
    auto w = m.model->model->embed_tokens->weight.detach().flatten().narrow(0, 0, std::min<int64_t>(
        m.model->model->embed_tokens->weight.numel(), 512 * seedlm.C)).contiguous();
    t0 = Clock::now();
    seedlm_encode(w.data_ptr<float>(), w.numel(), seedlm);
    const double per_block = since(t0) / double(seedlm_block_count(w.numel(), seedlm));
    encode_seconds = per_block * double(plan.seedlm_blocks);
  }
  plan.estimated_seconds.push_back({"encoding", encode_seconds});
  plan.estimated_seconds.push_back({"write", 0.0});
  plan.estimated_seconds.push_back({"reload and evaluate", eval_seconds * (config.eval.hellaswag.empty() ? 1.0 : 1.5)});
  return plan;
}

nlohmann::json plan_json(const Stage1Plan& p) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const PlannedTensor& t : p.tensors) {
    tensors.push_back({{"name", t.name}, {"codec", t.codec}, {"shape", t.shape}, {"bytes", t.bytes}});
  }
  nlohmann::json memory = nlohmann::json::object();
  for (const auto& [name, bytes] : p.memory.terms) memory[name] = bytes;
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
          {"eval_tokens", p.eval_tokens},
          {"seedlm_blocks", p.seedlm_blocks},
          {"estimated_seconds", seconds},
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
  out << "estimated output " << p.estimated_output_bytes << " bytes, ratio " << std::setprecision(2) << p.estimated_ratio
      << "x\n";
  out << "fine-tuning: " << p.train_steps << " steps, " << p.train_tokens << " tokens; memory (" << p.memory_device
      << ") " << p.memory.describe() << "\n";
  out << "\n| stage | estimated seconds |\n|---|---|\n";
  double total = 0;
  for (const auto& s : p.estimated_seconds) {
    out << "| " << s.stage << " | " << std::setprecision(1) << s.seconds << " |\n";
    total += s.seconds;
  }
  out << "| total | " << std::setprecision(1) << total << " |\n\n(" << p.threads << " threads; nothing was written)\n";
  return out.str();
}

}  // namespace seedforge
