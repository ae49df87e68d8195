// stage1 with bitnet.mode "blockwise" on stories260K: the blocks, then the
// end-to-end phase, then the usual encoding; the output loads and the
// report counts the steps of both phases.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pipeline/run_stage1.h"
#include "pipeline/stage1_file.h"
#include "pipeline_test_util.h"
#include "test_util.h"

using namespace seedforge;
namespace fs = std::filesystem;

TEST(BlockwiseStage1, BlocksThenTheEndToEndPhaseThenTheFile) {
  test::TempDir dir;
  Stage1Config config = test::tiny_config(4);
  config.bitnet.mode = "blockwise";
  config.bitnet.block_windows = 8;
  config.bitnet.block_steps = 3;
  config.bitnet.e2e_steps = 2;
  const std::string output = dir.file("m.stage1.pt");
  const Stage1Report report = run_stage1(test::stories_model(), output, config);
  EXPECT_EQ(report.train_steps, 5 * 3 + 2);
  EXPECT_GT(report.after.top1, 0.0);
  ASSERT_TRUE(fs::exists(output));
  EXPECT_EQ(read_stage1_file(output).tensors.size(), size_t(1 + 5 * 9 + 1));
  std::ifstream log(dir.file("stage1_compression.log"));
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("block 5/5: output mse"), std::string::npos) << text;
  EXPECT_NE(text.find("end-to-end phase: 2 steps"), std::string::npos) << text;
}
