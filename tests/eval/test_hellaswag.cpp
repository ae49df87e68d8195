// HellaSwag readers: the two layouts of the shared 500-task sample agree,
// lm-eval's preprocessing (expected strings from Python's re/str, the
// reference implementation), and bad input giving errors with the line.
#include "eval/hellaswag.h"

#include "common/error.h"
#include "test_util.h"

using namespace seedforge;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

const char* kGoodLine =
    R"({"activity_label": "A", "ctx": "c", "endings": ["w", "x", "y", "z"], "label": 1})";

}  // namespace

TEST(Hellaswag, BothLayoutsOfTheSampleHoldTheSameTasks) {
  std::string jsonl_layout, text_layout;
  const auto a = read_hellaswag(data_path("hellaswag/hellaswag_val_sample.jsonl"), &jsonl_layout);
  const auto b = read_hellaswag(data_path("hellaswag/hellaswag_val_sample.txt"), &text_layout);
  EXPECT_EQ(jsonl_layout, "jsonl");
  EXPECT_EQ(text_layout, "text");
  ASSERT_EQ(a.size(), 500u);
  ASSERT_EQ(b.size(), 500u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].context, b[i].context) << i;
    EXPECT_EQ(a[i].endings, b[i].endings) << i;
    EXPECT_EQ(a[i].label, b[i].label) << i;
    EXPECT_EQ(a[i].line, int64_t(i + 1));
    EXPECT_EQ(b[i].line, int64_t(6 * i + 1));
  }
  EXPECT_EQ(a[0].context, "Roof shingle removal: A man is sitting on a roof. he");
  EXPECT_EQ(a[0].endings[3], "starts pulling up roofing on a roof.");
  EXPECT_EQ(a[0].label, 3);
}

TEST(Hellaswag, PreprocessMatchesLmEval) {
  // Expected outputs printed by lm-eval's preprocess() in Python.
  EXPECT_EQ(hellaswag_preprocess("  How to tie a tie [title] Cross the ends. [step] Pull tight.  "),
            "How to tie a tie. Cross the ends. Pull tight.");
  EXPECT_EQ(hellaswag_preprocess("a   b"), "a  b");
  EXPECT_EQ(hellaswag_preprocess("x [unclosed"), "x [unclosed");
  EXPECT_EQ(hellaswag_preprocess("[header] [a] b]c"), " b]c");
}

TEST(Hellaswag, CtxAAndCtxBAndStringLabels) {
  const auto tasks = parse_hellaswag_jsonl(
      R"({"activity_label": "Run", "ctx_a": "A boy.", "ctx_b": "the BOY", "ctx": "ignored", "endings": ["a", "b", "c", "d"], "label": "2"})"
      "\n\n" +
          std::string(kGoodLine) + "\n",
      "mem");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].context, "Run: A boy. The boy");  // Python's "the BOY".capitalize() == "The boy"
  EXPECT_EQ(tasks[0].label, 2);
  EXPECT_EQ(tasks[1].context, "A: c");
  EXPECT_EQ(tasks[1].line, 3);
}

TEST(Hellaswag, BadJsonlNamesFileAndLine) {
  test::TempDir dir;
  const std::string path = dir.file("bad.jsonl");
  test::write_text(path, std::string(kGoodLine) + "\n" + kGoodLine + "\n{\"activity_label\": \"A\", \"ctx\": \n");
  std::string e = error_of([&] { read_hellaswag(path); });
  EXPECT_NE(e.find("bad.jsonl"), std::string::npos) << e;
  EXPECT_NE(e.find("line 3"), std::string::npos) << e;
  EXPECT_NE(e.find("invalid JSON"), std::string::npos) << e;

  e = error_of([] {
    parse_hellaswag_jsonl(std::string(kGoodLine) + "\n" +
                              R"({"activity_label": "A", "ctx": "c", "endings": ["w", "x", "y"], "label": 1})",
                          "f");
  });
  EXPECT_NE(e.find("line 2"), std::string::npos) << e;
  EXPECT_NE(e.find("expected 4 endings, got 3"), std::string::npos) << e;

  e = error_of([] {
    parse_hellaswag_jsonl(R"({"activity_label": "A", "ctx": "c", "endings": ["w", "x", "y", "z", "v"], "label": 1})", "f");
  });
  EXPECT_NE(e.find("expected 4 endings, got 5"), std::string::npos) << e;

  for (const char* label : {"4", "-1", "\"7\""}) {
    e = error_of([&] {
      parse_hellaswag_jsonl(std::string(R"({"activity_label": "A", "ctx": "c", "endings": ["w", "x", "y", "z"], "label": )") +
                                label + "}",
                            "f");
    });
    EXPECT_NE(e.find("line 1"), std::string::npos) << e;
    EXPECT_NE(e.find("out of range"), std::string::npos) << label << ": " << e;
  }
  e = error_of([] { parse_hellaswag_jsonl(R"({"activity_label": "A", "endings": ["w", "x", "y", "z"], "label": 0})", "f"); });
  EXPECT_NE(e.find("missing field \"ctx\""), std::string::npos) << e;
  e = error_of([] { parse_hellaswag_jsonl(R"({"activity_label": "A", "ctx": "c", "endings": ["w", 3, "y", "z"], "label": 0})", "f"); });
  EXPECT_NE(e.find("ending 1 must be a string"), std::string::npos) << e;
  e = error_of([] { parse_hellaswag_jsonl(R"({"activity_label": "A", "ctx": "c", "endings": ["w", " ", "y", "z"], "label": 0})", "f"); });
  EXPECT_NE(e.find("ending 1 is empty"), std::string::npos) << e;
  e = error_of([] { parse_hellaswag_jsonl(R"({"activity_label": "A", "ctx": "c", "endings": ["w", "x", "y", "z"], "label": 1.5})", "f"); });
  EXPECT_NE(e.find("\"label\" must be an integer"), std::string::npos) << e;
}

TEST(Hellaswag, BadTextLayoutNamesFileAndLine) {
  const std::string task = "A: c\n1\nw\nx\ny\nz\n";
  std::string e = error_of([&] { parse_hellaswag_text(task + "B: d\n0\nw\nx\ny\n", "f.txt"); });
  EXPECT_NE(e.find("11 lines is not a multiple of 6"), std::string::npos) << e;
  EXPECT_NE(e.find("from line 7"), std::string::npos) << e;
  e = error_of([&] { parse_hellaswag_text(task + "B: d\n4\nw\nx\ny\nz\n", "f.txt"); });
  EXPECT_NE(e.find("line 8"), std::string::npos) << e;
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
  e = error_of([&] { parse_hellaswag_text(task + "B: d\nyes\nw\nx\ny\nz\n", "f.txt"); });
  EXPECT_NE(e.find("line 8"), std::string::npos) << e;
  EXPECT_NE(e.find("gold ending index"), std::string::npos) << e;
  e = error_of([&] { parse_hellaswag_text(task + "B: d\n2\nw\n\ny\nz\n", "f.txt"); });
  EXPECT_NE(e.find("line 10"), std::string::npos) << e;
  EXPECT_NE(e.find("ending 1 is empty"), std::string::npos) << e;
  // CRLF line ends and a missing final newline are fine.
  const auto tasks = parse_hellaswag_text("A: c\r\n1\r\nw\r\nx\r\ny\r\nz", "f.txt");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].endings, (std::vector<std::string>{"w", "x", "y", "z"}));
  EXPECT_EQ(tasks[0].label, 1);
}

TEST(Hellaswag, EmptyOrMissingFile) {
  test::TempDir dir;
  test::write_text(dir.file("empty.jsonl"), "\n \n");
  std::string e = error_of([&] { read_hellaswag(dir.file("empty.jsonl")); });
  EXPECT_NE(e.find("empty.jsonl"), std::string::npos) << e;
  EXPECT_NE(e.find("no HellaSwag tasks"), std::string::npos) << e;
  e = error_of([&] { read_hellaswag(dir.file("nope.jsonl")); });
  EXPECT_NE(e.find("nope.jsonl"), std::string::npos) << e;
}
