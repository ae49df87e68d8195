// stage1 finetune: BitNet b1.58 quantization-aware fine-tuning of a model on a
// text file; writes the fine-tuned model (latent and ternary weights).
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common/error.h"
#include "common/file_util.h"
#include "config/stage1_config.h"
#include "dist/dist_env.h"
#include "dist/process_group.h"
#include "eval/text_eval.h"
#include "io/model_loader.h"
#include "runtime/threads.h"
#include "common/text_sources.h"
#include "train/bit_linear.h"
#include "train/bitnet_model_file.h"
#include "train/options_from_config.h"
#include "train/synthetic_data.h"
#include "train/token_cache.h"
#include "train/train_data.h"
#include "train/trainer.h"

namespace seedforge::cli {

namespace {

struct FinetuneArgs {
  std::string input, tokenizer, valid, output, config, device, checkpoint_dir;
  std::vector<std::string> train;  // files, folders or globs
  bool resume = false;
  int64_t max_steps = -1;
  int64_t eval_docs = 0;
  bool json = false;
};

void run_finetune(const FinetuneArgs& args) {
  // Everything that can be wrong with the settings is found before loading.
  const Stage1Config config = args.config.empty() ? default_stage1_config() : load_stage1_config(args.config);
  const std::string where = args.config.empty() ? "default config" : args.config;
  TrainOptions options = train_options_from_config(config);
  if (!args.device.empty()) options.device = args.device;
  if (args.max_steps >= 0) options.max_steps = args.max_steps;
  if (!args.checkpoint_dir.empty()) options.checkpoint_dir = args.checkpoint_dir;
  options.resume = args.resume;
  options.eval_max_docs = args.eval_docs;
  if (options.checkpoint_dir.empty() && (options.checkpoint_every > 0 || options.resume)) {
    options.checkpoint_dir = args.output + ".checkpoints";
  }
  validate_train_options(options, where);
  check_output_path_writable(args.output);
  if (launch_workers_if_asked(config.hardware.processes, config.hardware.dist_timeout_s)) return;
  // Data parallel (WORLD_SIZE > 1): rank 0 prints and writes; the other ranks'
  // console goes to stage1_compression.rank-N.log beside the output.
  const DistEnv dist = dist_env_from_environment();
  const std::string batch_note = fit_global_batch(options, config.hardware.processes, dist.world_size);
  if (!dist.writes_outputs()) {
    const std::string rank_log = rank_log_file(resolve_log_file(config, args.output), dist.rank);
    if (std::freopen(rank_log.c_str(), "a", stderr) == nullptr) throw usage_error("cannot write the rank log ", rank_log);
  }
  std::unique_ptr<DistGroup> group;
  if (dist.distributed()) {
    group = std::make_unique<DistGroup>(dist, config.hardware.backend, options.device == "cuda", config.hardware.dist_timeout_s);
  }
  if (global_options().threads == 0 && options.threads > 0) configure_threads(options.threads);
  std::vector<std::string> train_files = args.train.empty() ? resolve_train_text(config) : expand_text_sources(args.train, "--train");
  if (!args.train.empty()) check_disjoint_from(train_files, "--train", args.valid, "--valid");
  const std::string train_path = describe_files(train_files);

  ProgressPrinter progress = ProgressPrinter::for_stream(stderr, 1);  // replaced once the step count is known
  auto say = [&](const std::string& line) { progress.message(line); };

  LoadedModel loaded = load_model(args.input, args.tokenizer);
  TrainData data =
      load_train_data(train_files, args.valid, *loaded.tokenizer, options, loaded.checkpoint.config.max_seq_len,
                      resolve_token_cache_dir(config.bitnet.token_cache_dir));
  if (!data.token_cache.empty()) say("token cache: " + data.token_cache);
  if (!batch_note.empty()) say(batch_note);
  add_synthetic_documents(data, loaded.model, *loaded.tokenizer, options, say);
  const int64_t total = total_steps(options, data.windows);
  progress = ProgressPrinter::for_stream(stderr, total);
  say(concat("training on ", data.stream.size(), " tokens (", data.train_documents, " documents of ", train_path, ", ",
             data.windows, " windows of ", options.seq_len, "), ", total, " steps of ", options.batch_size, " x ",
             options.grad_accum, dist.distributed() ? concat(" x ", dist.world_size, " ranks") : "", " windows; validation: ",
             data.valid_source.empty() ? "none" : concat(data.valid_documents.size(), " documents of ", data.valid_source)));

  TextEvalResult dense_eval;
  if (!data.valid_documents.empty()) {
    dense_eval = evaluate_documents(loaded.model, data.valid_documents);
    say(concat("fp32 model: top-1 ", dense_eval.top1, ", perplexity ", dense_eval.perplexity, " on ", dense_eval.tokens,
               " tokens"));
  }
  Transformer teacher{nullptr};
  if (options.kd_weight > 0.0) teacher = make_teacher(loaded.model);
  Transformer student = loaded.model;
  convert_to_bitnet(student, bitnet_options(options));
  apply_projection_levels(student, options.projection_levels, "config");

  FinetuneHooks hooks;
  hooks.log = say;
  hooks.on_step = [&](const StepReport& r) { progress.step(r); };
  hooks.on_eval = [&](const ValidReport& v) {
    say(concat("step ", v.step, ": validation top-1 ", v.top1, ", perplexity ", v.perplexity, " (ternary, ", v.tokens,
               " tokens)"));
  };
  const FinetuneResult result =
      finetune_bitnet(student, teacher.is_empty() ? nullptr : &teacher, data, options, hooks, group.get());
  progress.finish();
  if (group) {
    const AllReduceStats& a = result.all_reduce;
    const double steps = double(std::max<int64_t>(a.calls, 1));
    say(concat("data parallel: ", a.calls, " gradient averages of ", double(a.bytes) / steps, " bytes in ",
               double(a.buckets) / steps, " buckets, ", a.seconds / steps * 1e3, " ms per step waited after backward"));
  }
  if (!dist.writes_outputs()) return;  // rank 0 evaluates, writes and prints

  student->to(torch::kCPU);
  TextEvalResult ternary_eval;
  if (!data.valid_documents.empty()) ternary_eval = evaluate_documents(student, data.valid_documents);
  save_bitnet_model(args.output, student, train_options_json(options), loaded.tokenizer->kind(),
                    loaded.tokenizer->to_bytes());

  const double retention = dense_eval.top1 > 0 ? ternary_eval.top1 / dense_eval.top1 : 0.0;
  if (args.json) {
    nlohmann::json j = {{"input", args.input}, {"output", args.output}, {"train", train_files},
                        {"valid", data.valid_source}, {"steps", result.total_steps}, {"start_step", result.start_step},
                        {"final_loss", result.losses.empty() ? 0.0 : result.losses.back()},
                        {"train_seconds", result.train_seconds}, {"tokens_per_second", result.tokens_per_second},
                        {"threads", configured_threads()}, {"options", nlohmann::json::parse(train_options_json(options))},
                        {"losses", result.losses}, {"world_size", dist.world_size}};
    if (group) {
      const AllReduceStats& a = result.all_reduce;
      j["all_reduce"] = {{"calls", a.calls}, {"buckets", a.buckets}, {"bytes", a.bytes}, {"seconds", a.seconds}};
    }
    if (!data.valid_documents.empty()) {
      j["fp32"] = {{"top1", dense_eval.top1}, {"perplexity", dense_eval.perplexity}, {"tokens", dense_eval.tokens}};
      j["ternary"] = {{"top1", ternary_eval.top1}, {"perplexity", ternary_eval.perplexity}, {"tokens", ternary_eval.tokens}};
      j["retention"] = retention;
    }
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << std::fixed << "steps              " << result.total_steps << " (" << std::setprecision(1)
            << result.train_seconds << " s, " << std::setprecision(0) << result.tokens_per_second << " tokens/s, "
            << configured_threads() << " threads)\n";
  if (!result.losses.empty()) std::cout << "final loss         " << std::setprecision(4) << result.losses.back() << "\n";
  if (!data.valid_documents.empty()) {
    std::cout << std::setprecision(5) << "fp32 top-1         " << dense_eval.top1 << "\n"
              << "ternary top-1      " << ternary_eval.top1 << " (weights ternary, activations "
              << (options.activation_bits > 0 ? std::to_string(options.activation_bits) + "-bit" : std::string("fp32"))
              << ")\n"
              << "retention          " << std::setprecision(4) << retention * 100.0 << " %\n"
              << "ternary perplexity " << ternary_eval.perplexity << "\n";
  }
  std::cout << "wrote              " << args.output << "\n";
}

}  // namespace

void add_finetune_command(CLI::App& app) {
  auto args = std::make_shared<FinetuneArgs>();
  auto* cmd = app.add_subcommand("finetune", "BitNet b1.58 quantization-aware fine-tuning (ternary weights)");
  cmd->add_option("--input", args->input, "Model to fine-tune: llama2.c .bin, .pt state dict, safetensors or HF folder")
      ->required();
  cmd->add_option("--tokenizer", args->tokenizer, "Tokenizer file (default: the model's own or one beside it)");
  cmd->add_option("--train", args->train,
                  "Training text: blank-line separated documents or JSONL with a \"text\" field; a file, a folder "
                  "(its .txt and .jsonl files) or a glob, repeatable (default: the config's bitnet.train_text)");
  cmd->add_option("--valid", args->valid, "Validation text (default: the config's bitnet.valid_fraction split, if any)");
  cmd->add_option("--output", args->output, "Where to write the fine-tuned model (latent + ternary weights)")->required();
  cmd->add_option("--config", args->config, "Stage-1 JSON config; its \"bitnet\" and \"hardware\" sections apply");
  cmd->add_option("--device", args->device, "cpu or cuda (overrides hardware.device)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--max-steps", args->max_steps, "Optimizer steps (overrides bitnet.max_steps; 0 = epochs)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--checkpoint-dir", args->checkpoint_dir,
                  "Folder for checkpoints (overrides bitnet.checkpoint_dir; default OUTPUT.checkpoints)");
  cmd->add_flag("--resume", args->resume, "Continue from the checkpoint in the checkpoint folder");
  cmd->add_option("--eval-docs", args->eval_docs, "Periodic validation on the first N documents only (0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->callback([args] { run_finetune(*args); });
}

}  // namespace seedforge::cli
