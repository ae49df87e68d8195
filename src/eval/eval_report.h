// The whole `stage1 eval` run as one library call: size, text perplexity and
// top-1, HellaSwag accuracy, speed and memory of a model, optionally of an
// original beside it with the retention (new / original) of each accuracy;
// and the two renderings of the result, one JSON object with stable key
// names (docs/EVAL.md) and a Markdown table with the same numbers.
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eval/model_size.h"
#include "io/model_loader.h"
#include "eval/multiple_choice.h"
#include "eval/speed.h"
#include "eval/text_eval.h"

namespace seedforge {

struct EvalRequest {
  std::string model;
  std::string tokenizer;          // "" = the model's own
  std::string text;               // "" = no perplexity/top-1
  int64_t max_docs = 0;           // 0 = all documents
  std::string hellaswag;          // "" = no HellaSwag
  int64_t max_tasks = 0;          // 0 = all tasks
  bool speed = false;
  SpeedOptions speed_options;
  std::string compare;            // original model; "" = no comparison
  std::string compare_tokenizer;  // "" = the same as `tokenizer`
  std::string device = "cpu";     // torch device string: "cpu", "cuda", "cuda:1"
  int64_t batch_tokens = 0;       // padded tokens per forward pass; 0 = each evaluator's default
  bool progress = true;           // progress lines on stderr for long phases
  // How a model path becomes a model: load_model() when empty. The stage1
  // tool passes pipeline's open_model(), which also opens .stage1.pt files
  // (a layer above this library), on the inference engine unless --engine
  // torch: a LoadedModel with `engine` set is evaluated on the engine.
  std::function<LoadedModel(const std::string& path, const std::string& tokenizer, torch::Device device)> loader;
};

// Everything measured on one model.
struct ModelEvaluation {
  std::string model;
  std::string engine;  // "torch", or "ternary (<kernels>)" for the inference engine
  ModelSize size;
  std::optional<TextEvalResult> text;
  std::optional<MultipleChoiceResult> hellaswag;
  std::optional<SpeedResult> speed;
  int64_t peak_rss_bytes = 0;
  bool peak_rss_since_load = false;  // true: the peak was reset before this model was loaded
  int64_t peak_cuda_bytes = -1;      // -1: not on a CUDA device / not a CUDA build
};

// new / original for each accuracy; empty when either side lacks the figure
// or the original's is 0.
struct Retention {
  std::optional<double> top1;
  std::optional<double> hellaswag_acc;
  std::optional<double> hellaswag_acc_norm;
};

struct EvalReport {
  std::string device;
  int threads = 0;
  std::string blas;
  std::string text_path;
  std::string hellaswag_path;
  std::string hellaswag_layout;  // "jsonl" or "text"
  ModelEvaluation model;
  std::optional<ModelEvaluation> original;
  Retention retention;
  std::optional<double> compression_ratio;  // original bytes / model bytes
};

Retention compute_retention(const ModelEvaluation& model, const ModelEvaluation& original);

// Runs what the request asks for. Inputs (text, HellaSwag file) are read and
// checked before any model is loaded. Throws usage_error / input_error.
EvalReport run_evaluation(const EvalRequest& request);

// Key names: docs/EVAL.md. A text-only run keeps the flat keys "tokens",
// "perplexity", "top1", "tokens_per_second" at the top level.
nlohmann::json eval_report_json(const EvalReport& report);
std::string eval_report_markdown(const EvalReport& report);

}  // namespace seedforge
