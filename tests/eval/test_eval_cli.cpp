// `stage1 eval` with the harness flags, as a user runs it: one JSON object
// with everything, --compare of a model with itself giving retention 1.0,
// the Markdown table, and bad HellaSwag input as a clear error (exit 1).
#include <nlohmann/json.hpp>

#include <fstream>

#include "test_util.h"

using namespace seedforge;

namespace {
test::CommandResult stage1(const std::string& args) { return test::run_command(test::stage1_binary() + " --threads 1 " + args); }
std::string model_args() { return "--model " + test::stories_model() + " --tokenizer " + test::stories_tokenizer(); }
}  // namespace

TEST(EvalCli, EverythingInOneJsonObjectAndTable) {
  test::TempDir dir;
  const std::string md = dir.file("table.md");
  const auto r = stage1("eval " + model_args() + " --text " + test::valid_text() + " --max-docs 20 --hellaswag " +
                        data_path("hellaswag/hellaswag_val_sample.jsonl") + " --max-tasks 30 --speed --prefill-tokens 64" +
                        " --decode-tokens 32 --speed-repeats 1 --compare " + test::stories_model() +
                        " --json --no-progress --markdown " + md);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_GT(j["tokens"].get<int64_t>(), 0);
  EXPECT_GT(j["top1"].get<double>(), 0.3);
  EXPECT_EQ(j["hellaswag"]["tasks"].get<int64_t>(), 30);
  EXPECT_EQ(j["hellaswag"]["layout"], "jsonl");
  EXPECT_EQ(j["speed"]["prefill_tokens"].get<int64_t>(), 64);
  EXPECT_EQ(j["speed"]["decode_tokens"].get<int64_t>(), 32);
  EXPECT_GT(j["speed"]["decode_tokens_per_second"].get<double>(), 0.0);
  EXPECT_EQ(j["speed"]["device"], "cpu");
  EXPECT_GT(j["speed"]["threads"].get<int>(), 0);
  EXPECT_EQ(j["retention"]["top1"].get<double>(), 1.0);
  EXPECT_EQ(j["retention"]["hellaswag_acc"].get<double>(), 1.0);
  EXPECT_EQ(j["retention"]["hellaswag_acc_norm"].get<double>(), 1.0);
  EXPECT_EQ(j["compare"]["compression_ratio"].get<double>(), 1.0);
  EXPECT_EQ(j["size"]["file_bytes"].get<int64_t>(), 1056540);

  std::ifstream in(md);
  const std::string table((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(table.find("| HellaSwag acc (30 tasks) |"), std::string::npos) << table;
  EXPECT_NE(table.find("| decode tokens/s (32 steps, KV cache) |"), std::string::npos) << table;
  EXPECT_NE(table.find("| retention |"), std::string::npos) << table;
}

TEST(EvalCli, DefaultOutputIsTheMarkdownTable) {
  const auto r = stage1("eval " + model_args() + " --no-progress");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("| parameters | 260,032 |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| file bytes | 1,056,540 |"), std::string::npos) << r.output;
}

TEST(EvalCli, BadHellaswagInputIsAClearError) {
  test::TempDir dir;
  const std::string good = R"({"activity_label": "A", "ctx": "c", "endings": ["w", "x", "y", "z"], "label": 1})";
  test::write_text(dir.file("broken.jsonl"), good + "\n" + good + "\n{\"ctx\": oops}\n");
  auto r = stage1("eval " + model_args() + " --hellaswag " + dir.file("broken.jsonl"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("broken.jsonl' line 3"), std::string::npos) << r.output;

  test::write_text(dir.file("three.jsonl"), R"({"activity_label": "A", "ctx": "c", "endings": ["w", "x", "y"], "label": 1})");
  r = stage1("eval " + model_args() + " --hellaswag " + dir.file("three.jsonl"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("expected 4 endings, got 3"), std::string::npos) << r.output;

  test::write_text(dir.file("label.txt"), "A: c\n9\nw\nx\ny\nz\n");
  r = stage1("eval " + model_args() + " --hellaswag " + dir.file("label.txt"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("label.txt' line 2: label 9 out of range"), std::string::npos) << r.output;

  r = stage1("eval " + model_args() + " --device nonsense");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}
