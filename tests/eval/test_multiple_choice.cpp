// The multiple-choice scorer. A stub model over fixed logits and a tiny
// tokenizer give log-likelihoods computed by hand, so the argmax and the
// byte-length normalization are checked against known answers; then the
// real model: both file layouts give the same figures, and batching does not
// change them. (The comparison with an independent Python implementation is
// in test_hellaswag_reference.)
#include <cmath>

#include "common/error.h"
#include "eval/hellaswag.h"
#include "eval/multiple_choice.h"
#include "io/model_loader.h"
#include "test_util.h"

using namespace seedforge;

namespace {

// Ids 0..2 special (BOS = 1), 3..258 the bytes, then multi-byte pieces matched
// longest first, no dummy prefix. Enough to exercise the scorer's token
// bookkeeping without the real tokenizer's rules.
class PieceTokenizer : public Tokenizer {
 public:
  explicit PieceTokenizer(std::vector<std::string> pieces) : pieces_(std::move(pieces)) {}
  std::vector<int32_t> encode(const std::string& text) const override {
    std::vector<int32_t> ids;
    size_t i = 0;
    while (i < text.size()) {
      int32_t id = static_cast<unsigned char>(text[i]) + 3;
      size_t len = 1;
      for (size_t p = 0; p < pieces_.size(); ++p) {
        if (pieces_[p].size() > len && text.compare(i, pieces_[p].size(), pieces_[p]) == 0) {
          id = static_cast<int32_t>(259 + p);
          len = pieces_[p].size();
        }
      }
      ids.push_back(id);
      i += len;
    }
    return ids;
  }
  std::string decode(const std::vector<int32_t>&) const override { return ""; }
  std::string decode_piece(int32_t, int32_t) const override { return ""; }
  int32_t vocab_size() const override { return static_cast<int32_t>(259 + pieces_.size()); }
  int32_t bos_id() const override { return 1; }
  int32_t eos_id() const override { return 2; }
  std::string kind() const override { return "test"; }
  std::string to_bytes() const override { return ""; }

 private:
  std::vector<std::string> pieces_;
};

int32_t byte_id(char c) { return static_cast<unsigned char>(c) + 3; }

// Unigram probabilities: every position predicts P(' ') = .35, P(a) = .25,
// P(b) = .2, P(c) = .1, P("aa") = .1, everything else ~e^-40.
constexpr double kSpace = 0.35, kA = 0.25, kB = 0.2, kC = 0.1, kAA = 0.1;

LogitsFunction unigram_stub(int64_t vocab) {
  auto row = torch::full({vocab}, -40.0f);
  row[byte_id(' ')] = std::log(kSpace);
  row[byte_id('a')] = std::log(kA);
  row[byte_id('b')] = std::log(kB);
  row[byte_id('c')] = std::log(kC);
  row[259] = std::log(kAA);
  return [row](const torch::Tensor& tokens) {
    return row.view({1, 1, -1}).expand({tokens.size(0), tokens.size(1), row.size(0)}).contiguous();
  };
}

// Hand-made: per task, acc picks / acc_norm picks (by bytes; by tokens it would differ):
//   task 1  c / ab / aaa / bc, label 2: loglik picks 0 (wrong), per byte picks 2 (right; per token: 1)
//   task 2  a / b / aa / c,    label 0: loglik picks 0 (right), per byte picks 2 (wrong)
//   task 3  cc / b / a / bc,   label 2: both pick 2 (right)
const char* kTasksJsonl =
    R"({"activity_label": "Test", "ctx": "one", "endings": ["c", "ab", "aaa", "bc"], "label": 2})"
    "\n"
    R"({"activity_label": "Test", "ctx": "two", "endings": ["a", "b", "aa", "c"], "label": 0})"
    "\n"
    R"({"activity_label": "Test", "ctx": "three", "endings": ["cc", "b", "a", "bc"], "label": 2})"
    "\n";
const char* kTasksText =
    "Test: one\n2\nc\nab\naaa\nbc\n"
    "Test: two\n0\na\nb\naa\nc\n"
    "Test: three\n2\ncc\nb\na\nbc\n";

void expect_hand_made_answers(const MultipleChoiceResult& r) {
  const double s = std::log(kSpace), a = std::log(kA), b = std::log(kB), c = std::log(kC), aa = std::log(kAA);
  // " " + ending, tokenized with "aa" as one piece.
  const std::vector<std::vector<double>> expected = {
      {s + c, s + a + b, s + aa + a, s + b + c},
      {s + a, s + b, s + aa, s + c},
      {s + c + c, s + b, s + a, s + b + c},
  };
  ASSERT_EQ(r.tasks, 3);
  for (size_t t = 0; t < 3; ++t) {
    for (size_t e = 0; e < 4; ++e) EXPECT_NEAR(r.per_task[t].endings[e].loglik, expected[t][e], 1e-6) << t << " " << e;
  }
  EXPECT_EQ(r.per_task[0].endings[2].tokens, 3);  // " ", "aa", "a"
  EXPECT_EQ(r.per_task[0].endings[2].bytes, 3);   // "aaa"
  EXPECT_EQ(r.per_task[0].predicted, 0);
  EXPECT_EQ(r.per_task[0].predicted_norm, 2);
  EXPECT_EQ(r.per_task[1].predicted, 0);
  EXPECT_EQ(r.per_task[1].predicted_norm, 2);
  EXPECT_EQ(r.per_task[2].predicted, 2);
  EXPECT_EQ(r.per_task[2].predicted_norm, 2);
  EXPECT_EQ(r.correct, 2);
  EXPECT_EQ(r.correct_norm, 2);
  EXPECT_DOUBLE_EQ(r.acc, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.acc_norm, 2.0 / 3.0);
  EXPECT_NEAR(r.acc_stderr, std::sqrt(2.0 / 9.0 / 2.0), 1e-12);
  EXPECT_EQ(r.sequences, 12);
  EXPECT_EQ(r.boundary_merges, 0);
  EXPECT_EQ(r.truncated, 0);
}

LoadedModel& stories() {
  static LoadedModel loaded = load_model(test::stories_model(), test::stories_tokenizer());
  return loaded;
}

}  // namespace

TEST(MultipleChoice, HandMadeTasksWithStubLogits) {
  test::TempDir dir;
  test::write_text(dir.file("tasks.jsonl"), kTasksJsonl);
  test::write_text(dir.file("tasks.txt"), kTasksText);
  const PieceTokenizer tokenizer({"aa"});
  const auto stub = unigram_stub(tokenizer.vocab_size());
  for (const char* name : {"tasks.jsonl", "tasks.txt"}) {
    SCOPED_TRACE(name);
    const auto tasks = read_hellaswag(dir.file(name));
    expect_hand_made_answers(score_multiple_choice(stub, tokenizer, tasks));
    MultipleChoiceOptions one_row;  // batching must not change anything
    one_row.batch_tokens = 1;
    expect_hand_made_answers(score_multiple_choice(stub, tokenizer, tasks, one_row));
  }
}

TEST(MultipleChoice, ArgmaxRules) {
  // {loglik, tokens, bytes}: per byte -3, -1, -2, -1; per token -1, -4, -2, -4.
  const std::vector<EndingScore> scores = {{-3.0, 3, 1}, {-4.0, 1, 4}, {-2.0, 1, 1}, {-8.0, 2, 8}};
  EXPECT_EQ(argmax_loglik(scores), 2);
  EXPECT_EQ(argmax_loglik_per_byte(scores), 1);  // bytes, not tokens (that would be 0); the tie with 3 goes to 1
  EXPECT_EQ(argmax_loglik({{-1.0, 1, 1}, {-1.0, 1, 1}}), 0);
}

TEST(MultipleChoice, RequestTokensAndBoundaryMerges) {
  // The context's tokens are a prefix of the whole's: continuation after them.
  const PieceTokenizer plain({"aa"});
  ScoringRequest r = make_scoring_request(plain, "xy", "aab", 0, "t");
  EXPECT_EQ(r.tokens, (std::vector<int32_t>{1, byte_id('x'), byte_id('y'), byte_id(' '), 259, byte_id('b')}));
  EXPECT_EQ(r.continuation_start, 3);
  EXPECT_FALSE(r.boundary_merge);
  EXPECT_FALSE(r.truncated);

  // A piece spanning the boundary ("y a"): the continuation starts where the
  // two encodings part, so the scored tokens stay a suffix of the whole's.
  const PieceTokenizer merging({"y a"});
  r = make_scoring_request(merging, "xy", "ab", 0, "t");
  EXPECT_EQ(r.tokens, (std::vector<int32_t>{1, byte_id('x'), 259, byte_id('b')}));
  EXPECT_EQ(r.continuation_start, 2);
  EXPECT_TRUE(r.boundary_merge);

  // Too long for the window: context drops from the left, the ending stays whole.
  r = make_scoring_request(plain, "wxyz", "bc", 4, "t");
  EXPECT_EQ(r.tokens, (std::vector<int32_t>{byte_id('y'), byte_id('z'), byte_id(' '), byte_id('b'), byte_id('c')}));
  EXPECT_EQ(r.continuation_start, 2);
  EXPECT_TRUE(r.truncated);
  try {
    make_scoring_request(plain, "w", "bcbcbc", 4, "'f' line 3, ending 1");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'f' line 3, ending 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("window of 4"), std::string::npos) << e.what();
  }
}

TEST(MultipleChoice, OutOfRangeLabelInMemoryTasks) {
  const PieceTokenizer tokenizer({});
  std::vector<MultipleChoiceTask> tasks(1);
  tasks[0].context = "c";
  tasks[0].endings = {"a", "b"};
  tasks[0].label = 2;
  tasks[0].line = 5;
  try {
    score_multiple_choice(unigram_stub(260), tokenizer, tasks, {}, "'mem'");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'mem' line 5: label 2 out of range"), std::string::npos) << e.what();
  }
}

TEST(MultipleChoice, StoriesSameFiguresFromBothLayoutsAndBothScorers) {
  // The first 100 tasks here; all 500 in test_hellaswag_sample (labels python, slow).
  // JSONL through the fast scorer (shared contexts), the text layout through
  // the reference one (whole sequences) with another batching.
  auto& m = stories();
  auto a = read_hellaswag(data_path("hellaswag/hellaswag_val_sample.jsonl"));
  auto b = read_hellaswag(data_path("hellaswag/hellaswag_val_sample.txt"));
  a.resize(100);
  b.resize(100);
  MultipleChoiceOptions options;
  options.max_seq_len = m.checkpoint.config.max_seq_len;
  const auto ra = score_multiple_choice(m.model, *m.tokenizer, a, options);
  MultipleChoiceOptions small = options;
  small.batch_tokens = 1000;
  const auto rb = score_multiple_choice(transformer_logits(m.model), *m.tokenizer, b, small);
  ASSERT_EQ(ra.tasks, 100);
  ASSERT_EQ(rb.tasks, 100);
  EXPECT_EQ(ra.correct, rb.correct);
  EXPECT_EQ(ra.correct_norm, rb.correct_norm);
  EXPECT_EQ(ra.scored_tokens, rb.scored_tokens);
  for (size_t t = 0; t < 100; ++t) {
    for (size_t e = 0; e < 4; ++e) {
      EXPECT_NEAR(ra.per_task[t].endings[e].loglik, rb.per_task[t].endings[e].loglik, 1e-3) << t << " " << e;
    }
  }
  EXPECT_EQ(ra.boundary_merges, 0);  // llama2.c pieces never span a space
  EXPECT_EQ(ra.truncated, 0);
}

TEST(MultipleChoice, FastScorerMatchesReferenceWithCutsAndMerges) {
  // The real model over a tokenizer whose piece "y a" spans the boundary, a
  // window so short that long tasks lose context on the left, and tasks of
  // different context lengths and ending counts: the shared-prefix scorer
  // must give the reference scorer's log-likelihoods.
  auto& m = stories();
  const PieceTokenizer tokenizer({"y a", "aa", "the "});
  std::vector<MultipleChoiceTask> tasks;
  const std::vector<std::string> contexts = {"say", "the day is gray", "x", "the the the the the the the the the quay",
                                             "a b c d e f g h i j k l m n o p q r s t u v w x y"};
  for (size_t i = 0; i < contexts.size(); ++i) {
    MultipleChoiceTask task;
    task.context = contexts[i];
    task.endings = {"abc", "aa b", "cab cab cab", "a"};
    if (i % 2 == 1) task.endings.pop_back();
    task.label = 0;
    task.line = static_cast<int64_t>(i + 1);
    tasks.push_back(task);
  }
  for (int64_t window : {512, 24}) {
    SCOPED_TRACE(window);
    MultipleChoiceOptions options;
    options.max_seq_len = window;
    for (int64_t batch : {4096, 1, 40}) {
      options.batch_tokens = batch;
      const auto fast = score_multiple_choice(m.model, tokenizer, tasks, options);
      const auto ref = score_multiple_choice(transformer_logits(m.model), tokenizer, tasks, options);
      EXPECT_GT(fast.boundary_merges, 0);
      EXPECT_EQ(fast.boundary_merges, ref.boundary_merges);
      EXPECT_EQ(fast.truncated, ref.truncated);
      if (window == 24) {
        EXPECT_GT(fast.truncated, 0);
      }
      for (size_t t = 0; t < tasks.size(); ++t) {
        for (size_t e = 0; e < tasks[t].endings.size(); ++e) {
          EXPECT_NEAR(fast.per_task[t].endings[e].loglik, ref.per_task[t].endings[e].loglik, 1e-4) << t << " " << e;
          EXPECT_EQ(fast.per_task[t].endings[e].tokens, ref.per_task[t].endings[e].tokens);
        }
      }
    }
  }
}
