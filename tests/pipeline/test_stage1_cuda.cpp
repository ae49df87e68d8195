// Stage 1 end to end with hardware.device "cuda" (label gpu; skipped where
// libtorch sees no CUDA device): the same tiny run as test_stage1_pipeline,
// once on the CPU and once on CUDA, must both finish, write a file of the
// same size and keep about the same accuracy (CUDA trains in bf16).
#include <torch/torch.h>

#include "pipeline/run_stage1.h"
#include "pipeline_test_util.h"

using namespace seedforge;

TEST(Stage1Cuda, RunsEndToEndLikeTheCpuRun) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible to libtorch";
  test::TempDir dir;
  const Stage1Report cpu = run_stage1(test::stories_model(), dir.file("cpu.stage1.pt"), test::tiny_config());
  Stage1Config config = test::tiny_config();
  config.hardware.device = Device::kCuda;
  const Stage1Report gpu = run_stage1(test::stories_model(), dir.file("cuda.stage1.pt"), config);
  EXPECT_EQ(gpu.output_bytes, cpu.output_bytes);
  EXPECT_DOUBLE_EQ(gpu.before.top1, cpu.before.top1);
  EXPECT_NEAR(gpu.after.top1, cpu.after.top1, 0.02);
}
