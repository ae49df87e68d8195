// stage1 eval: size, perplexity and top-1 on text, HellaSwag accuracy, speed
// and memory of a model, optionally against an original (retention). One
// library call (run_evaluation); the output is a Markdown table, or one JSON
// object with --json (keys: docs/EVAL.md).
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common/file_util.h"
#include "eval/eval_report.h"
#include "pipeline/stage1_model.h"

namespace seedforge::cli {

namespace {
struct EvalArgs {
  EvalRequest request;
  std::string engine = "auto";
  bool json = false;
  bool no_progress = false;
  std::string markdown;
};
}  // namespace

void add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  auto& r = args->request;
  auto* cmd = app.add_subcommand(
      "eval", "Size, perplexity/top-1 on text, HellaSwag accuracy, speed and memory of a model (and retention vs an original)");
  cmd->add_option("--model", r.model, "Model: llama2.c .bin, .pt state dict, safetensors, HF folder or .stage1.pt")->required();
  cmd->add_option("--tokenizer", r.tokenizer, "Tokenizer file (default: the model's own or one beside it)");
  cmd->add_option("--text", r.text, "Text file for perplexity/top-1: blank-line separated documents, or JSONL with a \"text\" field");
  cmd->add_option("--max-docs", r.max_docs, "Evaluate only the first N documents (0 = all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--hellaswag", r.hellaswag, "HellaSwag tasks: JSONL (ctx, endings, label, activity_label) or llama.cpp's 6-line text layout");
  cmd->add_option("--max-tasks", r.max_tasks, "Score only the first N HellaSwag tasks (0 = all)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--speed", r.speed, "Measure prefill and decode tokens/s (KV cache) and peak memory");
  cmd->add_option("--prefill-tokens", r.speed_options.prefill_tokens, "Speed: prompt length T")->check(CLI::PositiveNumber);
  cmd->add_option("--prefill-batch", r.speed_options.prefill_batch, "Speed: prompts per prefill pass B")->check(CLI::PositiveNumber);
  cmd->add_option("--decode-tokens", r.speed_options.decode_tokens, "Speed: decode steps")->check(CLI::PositiveNumber);
  cmd->add_option("--speed-repeats", r.speed_options.repeats, "Speed: timed runs (the median is reported)")->check(CLI::PositiveNumber);
  cmd->add_option("--compare", r.compare, "Original model: run the same evaluation on it and report retention = new / original");
  cmd->add_option("--compare-tokenizer", r.compare_tokenizer, "Tokenizer for --compare (default: --tokenizer, else the original's own)");
  cmd->add_option("--device", r.device, "Device: cpu, cuda or cuda:N");
  cmd->add_option("--engine", args->engine,
                  "What runs a .stage1.pt: auto (the ternary engine on the CPU, libtorch on CUDA), ternary, or torch "
                  "(the decoded weights through libtorch); other models always run on libtorch");
  cmd->add_option("--batch-tokens", r.batch_tokens, "Padded tokens per forward pass (0 = defaults: text 16384, fewer for a vocabulary over 8,192 so a batch's logits stay under 1 GiB; HellaSwag 4096)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", args->json, "Print one JSON object instead of the Markdown table");
  cmd->add_option("--markdown", args->markdown, "Also write the Markdown table to this file");
  cmd->add_flag("--no-progress", args->no_progress, "No progress lines on stderr");
  cmd->callback([args] {
    if (!args->markdown.empty()) check_output_path_writable(args->markdown);
    args->request.progress = !args->no_progress;
    const ModelEngine engine = parse_model_engine(args->engine);
    args->request.loader = [engine](const std::string& path, const std::string& tokenizer, torch::Device device) {
      return open_model(path, tokenizer, device, engine);
    };
    const EvalReport report = run_evaluation(args->request);
    const std::string table = eval_report_markdown(report);
    if (!args->markdown.empty()) write_file_atomic(args->markdown, table.data(), table.size());
    if (args->json) {
      std::cout << eval_report_json(report).dump(2) << "\n";
    } else {
      std::cout << table;
    }
  });
}

}  // namespace seedforge::cli
