// `stage1 finetune` as a user runs it: a short run end to end, and bad input
// (missing or empty training file, text shorter than one window, out-of-range
// config values) stopped with a clear message before any training step.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"

using namespace seedforge;

namespace {

// `redirect` applies to the tool alone (run_command adds 2>&1 after the whole line).
test::CommandResult finetune(const std::string& args, const std::string& redirect = "") {
  return test::run_command("(" + test::stage1_binary() + " --threads 1 finetune --input " + test::stories_model() + " " +
                           args + " " + redirect + ")");
}

std::string first_paragraphs(const std::string& path, int n) {
  std::ifstream in(path);
  std::string line, out;
  int blank = 0;
  while (std::getline(in, line) && blank < n) {
    out += line + "\n";
    if (line.find_first_not_of(" \t\r") == std::string::npos) ++blank;
  }
  return out;
}

}  // namespace

TEST(FinetuneCli, ShortRunWritesAModelAndReportsRetention) {
  test::TempDir dir;
  test::write_text(dir.file("train.txt"), first_paragraphs(data_path("text/tinystories/train.txt"), 40));
  test::write_text(dir.file("valid.txt"), first_paragraphs(test::valid_text(), 10));
  test::write_text(dir.file("config.json"),
                   R"({"bitnet": {"seq_len": 32, "batch_size": 2, "grad_accum": 1, "max_steps": 4, "lr": 0.002,
                       "kd_weight": 0.5, "eval_every": 2, "checkpoint_every": 2}})");
  const auto r = finetune("--train " + dir.file("train.txt") + " --valid " + dir.file("valid.txt") + " --output " +
                          dir.file("out.bitnet.pt") + " --config " + dir.file("config.json") + " --json",
                          "2>" + dir.file("log.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.output << std::ifstream(dir.file("log.txt")).rdbuf();
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["steps"].get<int64_t>(), 4);
  EXPECT_GT(j["fp32"]["top1"].get<double>(), 0.3);
  EXPECT_GT(j["ternary"]["top1"].get<double>(), 0.0);
  EXPECT_NEAR(j["retention"].get<double>(), j["ternary"]["top1"].get<double>() / j["fp32"]["top1"].get<double>(), 1e-12);
  EXPECT_GT(j["tokens_per_second"].get<double>(), 0.0);
  EXPECT_TRUE(std::filesystem::exists(dir.file("out.bitnet.pt")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("out.bitnet.pt.checkpoints/bitnet_checkpoint.pt")));
  std::ifstream log_in(dir.file("log.txt"));
  const std::string log((std::istreambuf_iterator<char>(log_in)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("memory estimate"), std::string::npos) << log;
  EXPECT_NE(log.find("step 4/4"), std::string::npos) << log;
  EXPECT_NE(log.find("validation top-1"), std::string::npos) << log;

  // Resuming the finished run does no further steps and gives the same model.
  const auto again = finetune("--train " + dir.file("train.txt") + " --valid " + dir.file("valid.txt") + " --output " +
                              dir.file("out2.bitnet.pt") + " --config " + dir.file("config.json") +
                              " --checkpoint-dir " + dir.file("out.bitnet.pt.checkpoints") + " --resume --json",
                              "2>/dev/null");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  const auto j2 = nlohmann::json::parse(again.output);
  EXPECT_EQ(j2["start_step"].get<int64_t>(), 4);
  EXPECT_EQ(j2["ternary"]["top1"].get<double>(), j["ternary"]["top1"].get<double>());
}

TEST(FinetuneCli, BadInputIsRejectedBeforeTraining) {
  test::TempDir dir;
  const std::string out = " --output " + dir.file("out.pt");
  auto expect_error = [&](const std::string& args, int code, const std::string& needle) {
    const auto r = finetune(args + out);
    EXPECT_EQ(r.exit_code, code) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(r.output.find("step 1/"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir.file("out.pt")));
  };
  expect_error("--train " + dir.file("missing.txt"), 1, dir.file("missing.txt"));
  test::write_text(dir.file("empty.txt"), "\n \n");
  expect_error("--train " + dir.file("empty.txt"), 1, "holds no documents");
  test::write_text(dir.file("short.txt"), "Once upon a time there was a cat.\n\nThe end.\n");
  expect_error("--train " + dir.file("short.txt"), 1, "fewer than one window of bitnet.seq_len + 1 = 257 tokens");
  test::write_text(dir.file("warmup.json"), R"({"bitnet": {"warmup_fraction": 1.5}})");
  expect_error("--train " + dir.file("short.txt") + " --config " + dir.file("warmup.json"), 2,
               "bitnet.warmup_fraction must be in [0, 1], got 1.5");
  test::write_text(dir.file("lr.json"), R"({"bitnet": {"lr": -0.001}})");
  expect_error("--train " + dir.file("short.txt") + " --config " + dir.file("lr.json"), 2,
               "bitnet.lr must be >= 0, got -0.001");
  expect_error("--train " + dir.file("short.txt") + " --device tpu", 2, "--device");
}
