// stage1's evaluation against the reference figures of ../shared/data/README.md
// (an independent implementation): scored tokens, perplexity, top-1; and the
// greedy story.
#include <cstdlib>

#include "common/error.h"
#include "eval/documents.h"
#include "eval/generate.h"
#include "eval/text_eval.h"
#include "io/model_loader.h"
#include "test_util.h"

using namespace seedforge;

namespace {
LoadedModel& stories() {
  static LoadedModel loaded = load_model(test::stories_model(), test::stories_tokenizer());
  return loaded;
}

// The first n documents of valid.txt, tokenized for stories260K.
std::vector<std::vector<int32_t>> first_valid_documents(size_t n) {
  auto docs = read_documents(test::valid_text());
  docs.resize(n);
  return tokenize_documents(docs, *stories().tokenizer, stories().checkpoint.config.max_seq_len);
}
}  // namespace

TEST(TextEval, ValidTxtMatchesReferenceFigures) {
  auto& m = stories();
  const auto docs = read_documents(test::valid_text());
  ASSERT_EQ(docs.size(), 800u);
  const auto tokens = tokenize_documents(docs, *m.tokenizer, m.checkpoint.config.max_seq_len);
  const TextEvalResult r = evaluate_documents(m.model, tokens);
  EXPECT_EQ(r.tokens, 74203);
  EXPECT_NEAR(r.perplexity, 5.2575, 5.2575 * 0.001);
  EXPECT_NEAR(r.top1, 0.57618, 0.001);
}

TEST(TextEval, First100DocumentsMatchReferenceFigures) {
  auto& m = stories();
  const auto tokens = first_valid_documents(100);
  TextEvalOptions small_batches;
  small_batches.batch_tokens = 700;  // a different batching must not change the figures
  const TextEvalResult r = evaluate_documents(m.model, tokens, small_batches);
  EXPECT_EQ(r.tokens, 7809);
  EXPECT_NEAR(r.perplexity, 7.5238, 7.5238 * 0.001);
  EXPECT_NEAR(r.top1, 0.52324, 0.001);
}

// Layer streaming runs each batch through the same operations in the same
// order, layer-outer instead of batch-outer: on the CPU (device = host) the
// sums are the same bit for bit, and the layers end where they started.
TEST(TextEval, LayerStreamingGivesTheSameFiguresBitForBit) {
  auto& m = stories();
  const auto tokens = first_valid_documents(100);
  TextEvalOptions plain;
  plain.batch_tokens = 700;  // several batches of different lengths
  TextEvalOptions streamed = plain;
  streamed.stream_layers = true;
  streamed.device = torch::Device(torch::kCPU);
  std::vector<int64_t> progress;
  streamed.progress = [&](int64_t done, int64_t) { progress.push_back(done); };
  const TextEvalResult a = evaluate_documents(m.model, tokens, plain);
  const TextEvalResult b = evaluate_documents(m.model, tokens, streamed);
  EXPECT_EQ(b.tokens, 7809);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.correct, b.correct);
  EXPECT_EQ(a.nll_sum, b.nll_sum);
  ASSERT_FALSE(progress.empty());
  EXPECT_GT(progress.size(), 1u);
  EXPECT_EQ(progress.back(), 100);
  for (const auto& p : m.model->parameters()) EXPECT_TRUE(p.device().is_cpu());
}

// Long documents get fewer rows a batch: stories260K's 8 heads over 511
// positions take 8.4 MB of scores a row and as much again for their softmax,
// so 16 rows fit
// kEvalScoresBudgetBytes where the 16,384-token default would give 32. A
// row's figures do not depend on its batch beyond fp32 rounding: the matrix
// products' blocking follows their shapes, so a logit may move by an ulp or
// two. Bounds from that cause: each token's NLL within a few fp32 ulps
// (1e-6 relative over the sum), and a hit flips only at a near-tie of the top
// two logits (none here; 1 in 1,000 allowed).
TEST(TextEval, AttentionScoresCapTheRowsOfLongDocuments) {
  auto& m = stories();
  ASSERT_EQ(m.model->config().n_heads, 8);
  std::vector<std::vector<int32_t>> docs;
  for (const auto& d : first_valid_documents(100)) {
    std::vector<int32_t> long_doc;
    while (long_doc.size() < 512) long_doc.insert(long_doc.end(), d.begin(), d.end());
    long_doc.resize(512);
    docs.push_back(long_doc);
    if (docs.size() == 40) break;
  }
  int64_t batches = 0;
  TextEvalOptions capped;  // the default 16,384 tokens
  capped.progress = [&](int64_t, int64_t) { ++batches; };
  const TextEvalResult a = evaluate_documents(m.model, docs, capped);
  EXPECT_EQ(batches, 3);  // 16 + 16 + 8 rows; 32 + 8 without the cap
  TextEvalOptions one_row;
  one_row.batch_tokens = 512;
  const TextEvalResult b = evaluate_documents(m.model, docs, one_row);
  EXPECT_EQ(a.tokens, 40 * 511);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_LE(std::abs(a.correct - b.correct), a.tokens / 1000);
  EXPECT_NEAR(a.nll_sum, b.nll_sum, 1e-6 * b.nll_sum);
}

TEST(Generate, GreedyStoryFromBosMatchesReference) {
  auto& m = stories();
  GenerateOptions options;
  options.steps = 256;
  const GenerateResult r = generate(m.model, *m.tokenizer, options);
  const std::string begins =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a "
      "big, red ball. She wanted to play with it, but it was too high.";
  const std::string goes_on =
      "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to "
      "play with your ball, but I can't find it.\"";
  EXPECT_EQ(r.text.substr(0, begins.size()), begins) << r.text;
  EXPECT_NE(r.text.find(goes_on), std::string::npos) << r.text;
}

TEST(Documents, EmptyFileIsAnError) {
  test::TempDir dir;
  test::write_text(dir.file("empty.txt"), "\n\n  \n");
  try {
    read_documents(dir.file("empty.txt"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty.txt"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("no documents"), std::string::npos);
  }
}

TEST(Documents, ParagraphsAndJsonl) {
  test::TempDir dir;
  test::write_text(dir.file("a.txt"), "one\ntwo\n\n\nthree\r\n\r\nfour");
  const auto docs = read_documents(dir.file("a.txt"));
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0], "one\ntwo");
  EXPECT_EQ(docs[1], "three");
  EXPECT_EQ(docs[2], "four");
  test::write_text(dir.file("b.jsonl"), "{\"text\": \"x\"}\n{\"text\": \"y z\"}\n");
  EXPECT_EQ(read_documents(dir.file("b.jsonl")), (std::vector<std::string>{"x", "y z"}));
  test::write_text(dir.file("c.jsonl"), "{\"text\": \"x\"}\n{\"txt\": 1}\n");
  try {
    read_documents(dir.file("c.jsonl"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
}
