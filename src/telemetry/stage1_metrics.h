// The Prometheus metrics the Stage-1 pipeline publishes, in one place so that
// dashboards and code agree on names, types, labels and units.
//
//   seedforge_stage1_stage{stage="..."}               gauge    1 for the running stage, 0 for stages seen before
//   seedforge_stage1_step                             gauge    optimizer steps done in fine-tuning
//   seedforge_stage1_loss                             gauge    training loss of the last step (nats/token)
//   seedforge_stage1_lambda                           gauge    quantization strength, 0 = float .. 1 = ternary
//   seedforge_stage1_blocks_encoded_total             counter  SeedLM blocks encoded so far
//   seedforge_stage1_compression_ratio                gauge    input_bytes / output_bytes
//   seedforge_stage1_accuracy_retention               gauge    compressed top-1 / original top-1
//   seedforge_stage1_input_bytes                      gauge    size of the input checkpoint (bytes)
//   seedforge_stage1_output_bytes                     gauge    size of model.stage1.pt (bytes)
//   seedforge_stage1_top1{model="original|compressed"}        gauge  next-token top-1 accuracy
//   seedforge_stage1_perplexity{model="original|compressed"}  gauge  exp(mean NLL) on the eval text
//   seedforge_stage1_stage_seconds{stage="..."}       gauge    wall time the stage took (seconds)
//
// The stage label is one of run_stage1's stages (run_stage1.h): "load",
// "baseline evaluation", "bitnet conversion and fine-tuning", "encoding",
// "compressed evaluation", "write", "reload and evaluate", "check constraints";
// then "done".
#pragma once

#include <string>

#include "telemetry/metrics.h"

namespace seedforge {
namespace stage1_metric {
constexpr const char* kStage = "seedforge_stage1_stage";
constexpr const char* kStep = "seedforge_stage1_step";
constexpr const char* kLoss = "seedforge_stage1_loss";
constexpr const char* kLambda = "seedforge_stage1_lambda";
constexpr const char* kBlocksEncodedTotal = "seedforge_stage1_blocks_encoded_total";
constexpr const char* kCompressionRatio = "seedforge_stage1_compression_ratio";
constexpr const char* kAccuracyRetention = "seedforge_stage1_accuracy_retention";
constexpr const char* kInputBytes = "seedforge_stage1_input_bytes";
constexpr const char* kOutputBytes = "seedforge_stage1_output_bytes";
constexpr const char* kTop1 = "seedforge_stage1_top1";
constexpr const char* kPerplexity = "seedforge_stage1_perplexity";
constexpr const char* kStageSeconds = "seedforge_stage1_stage_seconds";
}  // namespace stage1_metric

// Declares every family above with its type and HELP text.
void declare_stage1_metrics(MetricsRegistry& registry);

// seedforge_stage1_stage{stage=`stage`} = 1 and every other stage series = 0,
// so that a dashboard can show which stage is running.
void set_current_stage(MetricsRegistry& registry, const std::string& stage);

}  // namespace seedforge
