#include "telemetry/stage1_metrics.h"

namespace seedforge {

void declare_stage1_metrics(MetricsRegistry& registry) {
  namespace m = stage1_metric;
  registry.declare(m::kStage, MetricType::kGauge, "1 for the Stage-1 stage now running, 0 for earlier ones.");
  registry.declare(m::kStep, MetricType::kGauge, "Optimizer steps done in BitNet fine-tuning.");
  registry.declare(m::kLoss, MetricType::kGauge, "Training loss of the last optimizer step (nats per token).");
  registry.declare(m::kLambda, MetricType::kGauge, "Quantization strength: 0 = full precision, 1 = ternary.");
  registry.declare(m::kBlocksEncodedTotal, MetricType::kCounter, "SeedLM weight blocks encoded.");
  registry.declare(m::kCompressionRatio, MetricType::kGauge, "Input checkpoint bytes / output bytes.");
  registry.declare(m::kAccuracyRetention, MetricType::kGauge, "Compressed top-1 accuracy / original top-1 accuracy.");
  registry.declare(m::kInputBytes, MetricType::kGauge, "Size of the input checkpoint in bytes.");
  registry.declare(m::kOutputBytes, MetricType::kGauge, "Size of the compressed output in bytes.");
  registry.declare(m::kTop1, MetricType::kGauge, "Next-token top-1 accuracy on the eval text.");
  registry.declare(m::kPerplexity, MetricType::kGauge, "Perplexity exp(mean NLL) on the eval text.");
  registry.declare(m::kStageSeconds, MetricType::kGauge, "Wall-clock seconds a Stage-1 stage took.");
}

void set_current_stage(MetricsRegistry& registry, const std::string& stage) {
  registry.set_one_hot_gauge(stage1_metric::kStage, "stage", stage);
}

}  // namespace seedforge
