// `stage1 --input ... --output ...` as a user runs it: exit codes,
// kill and --resume, refused resume with a changed config, inspect, dry run.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "../pipeline/pipeline_test_util.h"
#include "test_util.h"

using namespace seedforge;
namespace fs = std::filesystem;

namespace {

test::CommandResult stage1(const std::string& args) { return test::run_command(test::stage1_binary() + " " + args); }

std::string base_args(const std::string& output, const std::string& config) {
  return "--input " + test::stories_model() + " --output " + output + " --config " + config;
}

}  // namespace

TEST(CliStage1, RunsAndReportsWithExitCode0Or3) {
  test::TempDir dir;
  test::write_text(dir.file("c.json"), test::tiny_config_json());
  const auto r = stage1(base_args(dir.file("m.stage1.pt"), dir.file("c.json")) + " --metrics-file " + dir.file("m.prom"));
  // The tiny config trains 4 steps: the retention constraint fails, so exit 3 with the file written.
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_TRUE(fs::exists(dir.file("m.stage1.pt")));
  EXPECT_NE(r.output.find("constraints: NOT met"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("top-1 retention"), std::string::npos);
  const std::string prom = test::run_command("cat " + dir.file("m.prom")).output;
  EXPECT_NE(prom.find("seedforge_stage1_compression_ratio"), std::string::npos) << prom;
  const auto inspect = stage1("inspect " + dir.file("m.stage1.pt"));
  EXPECT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_NE(inspect.output.find("model.layers.4.mlp.down_proj.weight"), std::string::npos);
  EXPECT_NE(inspect.output.find("ternary"), std::string::npos);

  // eval and generate run the file on the ternary engine by default, on
  // libtorch with --engine torch; greedy text is the same.
  const std::string file = dir.file("m.stage1.pt");
  const auto engine = stage1("generate --model " + file + " --prompt 'Once upon a time' --steps 80");
  const auto torch = stage1("generate --model " + file + " --prompt 'Once upon a time' --steps 80 --engine torch");
  ASSERT_EQ(engine.exit_code, 0) << engine.output;
  ASSERT_EQ(torch.exit_code, 0) << torch.output;
  const auto text = [](const std::string& out) { return out.substr(0, out.find("generated ")); };
  EXPECT_EQ(text(engine.output), text(torch.output));
  const auto eval = test::run_command(test::stage1_binary() + " eval --model " + file + " --text " + test::valid_text() +
                                          " --max-docs 20 --json --no-progress",
                                      /*stdout_only=*/true);
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  const auto j = nlohmann::json::parse(eval.output);
  EXPECT_EQ(j["engine"].get<std::string>().rfind("ternary (", 0), 0u) << j["engine"];
  EXPECT_GT(j["tokens"].get<int64_t>(), 1000);
  const auto bin = stage1("eval --model " + test::stories_model() + " --text " + test::valid_text() +
                          " --max-docs 2 --engine ternary --no-progress");
  EXPECT_EQ(bin.exit_code, 2) << bin.output;
  EXPECT_NE(bin.output.find("--engine ternary runs .stage1.pt files"), std::string::npos) << bin.output;
  EXPECT_EQ(stage1("generate --model " + file + " --engine gpu").exit_code, 2);
}

// Bad input (missing, truncated, NaN, bad config keys, output folders) and
// faults: test_cli_faults.cpp, against docs/RELIABILITY.md.

TEST(CliStage1, KilledRunResumesFromCheckpointAndRefusesChangedConfig) {
  test::TempDir dir;
  test::write_text(dir.file("c.json"), test::tiny_config_json(60, 8, 5));
  const std::string out = dir.file("m.stage1.pt");
  const std::string ckpt = out + ".checkpoints/bitnet_checkpoint.pt";
  // Start in the background, wait for the first checkpoint, then kill -9.
  const std::string pid_file = dir.file("pid");
  std::system((test::stage1_binary() + " " + base_args(out, dir.file("c.json")) + " > " + dir.file("log1") +
               " 2>&1 & echo $! > " + pid_file).c_str());
  const auto start = std::chrono::steady_clock::now();
  while (!fs::exists(ckpt) && std::chrono::steady_clock::now() - start < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(fs::exists(ckpt)) << test::run_command("cat " + dir.file("log1")).output;
  const int pid = std::stoi(test::run_command("cat " + pid_file).output);
  ::kill(pid, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(fs::exists(out)) << "a killed run left a file under the output name";

  // A changed config is refused.
  test::write_text(dir.file("changed.json"), test::tiny_config_json(60, 4, 5));
  auto r = stage1(base_args(out, dir.file("changed.json")) + " --resume");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("fingerprint"), std::string::npos) << r.output;

  r = stage1(base_args(out, dir.file("c.json")) + " --resume");
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 3) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(out));
}

TEST(CliStage1, DryRunPrintsPlanAndWritesNothing) {
  test::TempDir dir;
  test::write_text(dir.file("c.json"), test::tiny_config_json());
  const auto r = stage1(base_args(dir.file("m.stage1.pt"), dir.file("c.json")) + " --dry-run");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("estimated output"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("model.embed_tokens.weight | seedlm"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.file("m.stage1.pt")));
  EXPECT_FALSE(fs::exists(dir.file("stage1_compression.log")));
}

TEST(CliStage1, PrintDefaultsIsAValidConfig) {
  test::TempDir dir;
  const auto r = test::run_command(test::stage1_binary() + " config --print-defaults > " + dir.file("d.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto check = stage1("config --check " + dir.file("d.json"));
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("\"warmup_fraction\": 0.4"), std::string::npos) << check.output;
}
