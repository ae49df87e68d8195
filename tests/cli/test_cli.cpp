// The stage1 tool as a user runs it: figures, help, version, and bad input
// giving a clear message and a non-zero exit (never a crash).
#include <nlohmann/json.hpp>

#include "test_util.h"

using namespace seedforge;

namespace {
test::CommandResult stage1(const std::string& args, bool stdout_only = false) {
  return test::run_command(test::stage1_binary() + " " + args, stdout_only);
}
}  // namespace

TEST(Cli, EvalJsonOnFirst100Documents) {
  const auto r = stage1("eval --model " + test::stories_model() + " --text " + test::valid_text() + " --max-docs 100 --json",
                        /*stdout_only=*/true);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["tokens"].get<int64_t>(), 7809);
  EXPECT_NEAR(j["perplexity"].get<double>(), 7.5238, 0.0075);
  EXPECT_NEAR(j["top1"].get<double>(), 0.52324, 0.001);
  EXPECT_GT(j["tokens_per_second"].get<double>(), 0.0);
}

TEST(Cli, HelpAndVersion) {
  auto r = stage1("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("stage1"), std::string::npos);
  for (const char* cmd : {"eval", "generate"}) {
    r = stage1(std::string(cmd) + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.output.find("--model"), std::string::npos) << cmd;
  }
  r = stage1("eval --bogus");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST(Cli, BadInputsGiveClearErrors) {
  test::TempDir dir;
  std::ifstream in(test::stories_model(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  test::write_text(dir.file("truncated.bin"), bytes.substr(0, bytes.size() / 2));
  test::write_text(dir.file("empty.txt"), "");
  const std::string tok = " --tokenizer " + test::stories_tokenizer();

  auto r = stage1("eval --model " + dir.file("truncated.bin") + tok + " --text " + test::valid_text());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("truncated.bin"), std::string::npos) << r.output;

  r = stage1("eval --model " + dir.file("nope.bin") + tok + " --text " + test::valid_text());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("nope.bin"), std::string::npos) << r.output;

  r = stage1("eval --model " + test::stories_model() + tok + " --text " + dir.file("empty.txt"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("empty.txt"), std::string::npos) << r.output;

  // A tokenizer whose vocabulary is not the model's: the Llama 2 SentencePiece model (32,000 tokens).
  r = stage1("eval --model " + test::stories_model() + " --tokenizer " + data_path("tokenizers/llama2/tokenizer.model") +
             " --text " + test::valid_text());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("32000"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("512"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Segmentation"), std::string::npos);
}
