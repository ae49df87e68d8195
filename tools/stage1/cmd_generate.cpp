// stage1 generate: sample text from a model (greedy at temperature 0).
#include <algorithm>
#include <iostream>

#include "commands.h"
#include "eval/generate.h"
#include "infer/session.h"
#include "pipeline/stage1_model.h"
#include "runtime/threads.h"

namespace seedforge::cli {

void add_generate_command(CLI::App& app) {
  struct Args {
    std::string model, tokenizer, engine = "auto";
    GenerateOptions options;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("generate", "Generate text from a model with the KV cache");
  cmd->add_option("--model", args->model, "Model file or folder")->required();
  cmd->add_option("--tokenizer", args->tokenizer, "Tokenizer file (default: the model's own or one beside it)");
  cmd->add_option("--prompt", args->options.prompt, "Prompt text (default: start from BOS alone)");
  cmd->add_option("--steps", args->options.steps, "Positions to run, prompt included (capped at the model's max sequence)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--temperature", args->options.temperature, "0 = greedy")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", args->options.top_p, "Nucleus sampling mass")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", args->options.seed, "Random seed for sampling");
  cmd->add_option("--engine", args->engine,
                  "What runs a .stage1.pt: auto or ternary (the ternary inference engine), or torch (the decoded "
                  "weights through libtorch); other models always run on libtorch");
  cmd->callback([args] {
    check_generate_options(args->options);
    LoadedModel loaded = open_model(args->model, args->tokenizer, torch::kCPU, parse_model_engine(args->engine));
    args->options.on_piece = [](const std::string& piece) { std::cout << piece << std::flush; };
    GenerateResult r;
    if (loaded.engine) {
      infer::SessionOptions session;
      session.threads = std::max(1, configured_threads());
      infer::Session s(loaded.engine, session);
      r = infer::generate(s, *loaded.tokenizer, args->options);
    } else {
      r = generate(loaded.model, *loaded.tokenizer, args->options);
    }
    std::cout << "\n";
    std::cerr << "generated " << r.generated << " tokens, " << static_cast<int64_t>(r.tokens_per_second) << " tokens/s\n";
  });
}

}  // namespace seedforge::cli
