// The Stage-1 run report: what was done, what it cost and what it kept.
// Written as <output>.report.json and printed as Markdown.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace seedforge {

struct TensorReport {
  std::string name;
  std::string codec;
  std::vector<int64_t> shape;
  int64_t params = 0;
  int64_t bytes = 0;              // payload + scales
  double bits_per_weight = 0;
  double relative_error = 0;      // ||W - decode(encode(W))|| / ||W||, W as the fine-tuned model used it
};

struct AccuracyFigures {
  int64_t tokens = 0;
  double perplexity = 0;
  double top1 = 0;
  std::optional<double> hellaswag_acc, hellaswag_acc_norm;
  int64_t hellaswag_tasks = 0;
};

struct StageTiming {
  std::string stage;
  double seconds = 0;
  // Host memory: the peak resident set during the stage (the process's peak
  // so far where the kernel cannot reset it) and the resident set at its
  // end, bytes; -1 when unknown.
  int64_t peak_rss_bytes = -1, end_rss_bytes = -1;
};

struct Stage1Report {
  std::string input, output, eval_text;
  int64_t input_bytes = 0, output_bytes = 0, parameters = 0;
  double compression_ratio = 0;
  double bits_per_weight = 0;  // output bytes * 8 / parameters
  AccuracyFigures before, after;
  double retention = 0;        // after.top1 / before.top1
  // The same readings on the start of the training text (its first documents,
  // as many tokens as the evaluation text, at least one document): how much of
  // the gap is fitting the text rather than keeping the model. tokens 0 = not
  // measured (no fine-tuning).
  std::string train_sample;
  AccuracyFigures train_before, train_after;
  double train_retention = 0;
  // Training
  int64_t train_steps = 0, train_tokens = 0;
  // Each step's global batch: ranks x grad_accum x batch_size windows.
  int64_t train_ranks = 1, train_batch_size = 0, train_grad_accum = 0;
  double train_seconds = 0, train_tokens_per_second = 0, final_loss = 0;
  std::vector<TensorReport> tensors;
  std::vector<StageTiming> stages;
  int64_t peak_rss_bytes = 0;
  int threads = 0;
  // Constraints
  double target_compression_ratio = 0, min_retention = 0;
  bool ratio_ok = false, retention_ok = false;
  std::vector<std::string> violations;
  nlohmann::json config;

  bool constraints_ok() const { return ratio_ok && retention_ok; }
};

nlohmann::json report_json(const Stage1Report& report);
// The summary stored inside the .stage1.pt file: deterministic figures only
// (no timings), so that the same input, config and seed give a byte-identical file.
std::string stage1_embedded_metrics(const Stage1Report& report);
std::string report_markdown(const Stage1Report& report);

}  // namespace seedforge
