// Training progress: one report per optimizer step, shown as a redrawn bar on a
// terminal and as plain log lines otherwise (files, CI logs). Torch-free.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace seedforge {

struct StepReport {
  int64_t step = 0;         // optimizer steps done (1-based after the step)
  int64_t total_steps = 0;
  int64_t epoch = 0;        // epoch of the step's first window (0-based)
  double lambda = 0.0;      // quantization strength used for the step
  double lr = 0.0;
  double loss = 0.0;        // total loss (CE + kd_weight * KD), mean over the step's micro-batches
  double ce = 0.0;          // cross-entropy part
  double kd = 0.0;          // distillation part (before kd_weight), 0 without a teacher
  double grad_norm = 0.0;   // global L2 norm before clipping
  double tokens_per_second = 0.0;  // over the steps of this run so far
  double elapsed_seconds = 0.0;
  double eta_seconds = 0.0;
};

struct ValidReport {
  int64_t step = 0;
  double lambda = 1.0;  // validation always runs fully quantized
  double top1 = 0.0;
  double perplexity = 0.0;
  int64_t tokens = 0;
};

// "1h02m", "3m20s", "12s"
std::string format_duration(double seconds);
// The one-line text of a step: "step 120/1500 lambda 0.30 loss 2.3456 lr 1.00e-03 12345 tok/s ETA 3m20s"
std::string format_step(const StepReport& report);

class ProgressPrinter {
 public:
  // `out` is usually stderr; bar = true redraws one line (use on a terminal),
  // bar = false prints a line every `every` steps and at the last step.
  ProgressPrinter(std::FILE* out, bool bar, int64_t every);
  // bar = isatty(out), every = about 50 lines per run.
  static ProgressPrinter for_stream(std::FILE* out, int64_t total_steps);

  void step(const StepReport& report);
  // A message on its own line (the bar is cleared first and redrawn by the next step).
  void message(const std::string& text);
  // Ends the bar's line.
  void finish();

 private:
  std::FILE* out_;
  bool bar_;
  int64_t every_;
  bool bar_drawn_ = false;
};

}  // namespace seedforge
