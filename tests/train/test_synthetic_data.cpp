// Stories sampled from the original model as extra fine-tuning text
// (train/synthetic_data.h), checked against independent paths: at a vanishing
// temperature the sampler must reproduce `generate`'s greedy story (whose
// start is checked against llama2.c's output in test_text_eval), and at
// temperature 1 the first tokens' frequencies must match the model's own
// softmax within sampling error.
#include <torch/torch.h>

#include <cmath>

#include "common/error.h"
#include "eval/generate.h"
#include "io/model_loader.h"
#include "test_util.h"
#include "train/synthetic_data.h"

using namespace seedforge;

namespace {

LoadedModel& stories() {
  static LoadedModel* m = new LoadedModel(load_model(test::stories_model(), test::stories_tokenizer()));
  return *m;
}

SampleOptions options_for(const LoadedModel& m) {
  SampleOptions o;
  o.bos = m.tokenizer->bos_id();
  o.eos = m.tokenizer->eos_id();
  return o;
}

}  // namespace

TEST(SyntheticData, VanishingTemperatureGivesTheGreedyStoryInEveryRow) {
  LoadedModel& m = stories();
  GenerateOptions g;
  g.steps = 96;
  g.temperature = 0.0;
  const GenerateResult greedy = generate(m.model, *m.tokenizer, g);
  const std::vector<int32_t> expected(greedy.tokens.begin() + 1, greedy.tokens.end());  // without BOS
  ASSERT_GT(expected.size(), 20u);

  SampleOptions o = options_for(m);
  o.max_len = 96;
  o.temperature = 1e-6;
  o.batch = 3;
  o.tokens = 1;  // one batch: every row of it
  const auto docs = sample_documents(m.model, o);
  ASSERT_EQ(docs.size(), 1u);  // the first row already reaches `tokens`
  EXPECT_EQ(docs[0], expected);

  o.tokens = 3 * int64_t(expected.size() + 1);
  const auto three = sample_documents(m.model, o);
  ASSERT_EQ(three.size(), 3u);
  for (const auto& d : three) EXPECT_EQ(d, expected);
}

TEST(SyntheticData, FirstTokenFrequenciesMatchTheModel) {
  LoadedModel& m = stories();
  SampleOptions o = options_for(m);
  o.max_len = 2;  // one sampled token per document
  o.batch = 512;
  o.tokens = 2 * 12000;
  const auto docs = sample_documents(m.model, o);
  ASSERT_GE(docs.size(), 11999u);
  std::vector<double> counts(size_t(m.model->config().vocab_size), 0.0);
  for (const auto& d : docs) {
    ASSERT_EQ(d.size(), 1u);
    counts[size_t(d[0])] += 1.0;
  }
  torch::NoGradGuard no_grad;
  auto p = torch::softmax(m.model->forward(torch::full({1, 1}, int64_t(o.bos), torch::kInt64))[0][0].to(torch::kFloat64), -1);
  // Documents that sampled BOS or EOS are empty and dropped: condition on the rest.
  const double kept = 1.0 - p[o.bos].item<double>() - p[o.eos].item<double>();
  const double n = double(docs.size());
  auto top = std::get<1>(p.topk(8));
  for (int64_t i = 0; i < 8; ++i) {
    const int64_t id = top[i].item<int64_t>();
    if (id == o.bos || id == o.eos) continue;
    const double q = p[id].item<double>() / kept;
    const double sigma = std::sqrt(q * (1 - q) / n);
    EXPECT_NEAR(counts[size_t(id)] / n, q, 4.5 * sigma) << "token " << id;
  }
}

TEST(SyntheticData, SameSeedSameDocumentsAndTheTokenBudgetHolds) {
  LoadedModel& m = stories();
  SampleOptions o = options_for(m);
  o.max_len = 64;
  o.batch = 8;
  o.tokens = 300;
  const auto a = sample_documents(m.model, o);
  const auto b = sample_documents(m.model, o);
  EXPECT_EQ(a, b);
  int64_t total = 0;
  for (const auto& d : a) {
    EXPECT_FALSE(d.empty());
    EXPECT_LT(int64_t(d.size()), o.max_len);
    for (int32_t t : d) EXPECT_TRUE(t != o.bos && t != o.eos);
    total += int64_t(d.size()) + 1;
  }
  EXPECT_GE(total, o.tokens);
  EXPECT_LT(total - int64_t(a.back().size()) - 1, o.tokens);  // stops at the document that reaches the budget
  o.seed = 99;
  EXPECT_NE(sample_documents(m.model, o), a);
}

TEST(SyntheticData, AppendedDocumentsExtendTheStreamAndWindows) {
  TrainData data;
  data.seq_len = 4;
  data.stream = {1, 10, 11, 12, 13, 14};
  data.windows = 1;
  data.train_documents = 1;
  append_documents(data, {{20, 21}, {30, 31, 32}}, 1);
  EXPECT_EQ(data.stream, (std::vector<int32_t>{1, 10, 11, 12, 13, 14, 1, 20, 21, 1, 30, 31, 32}));
  EXPECT_EQ(data.windows, 3);  // (13 - 1) / 4
  EXPECT_EQ(data.train_documents, 3);
}

TEST(SyntheticData, BadOptionsAreRefused) {
  LoadedModel& m = stories();
  SampleOptions o = options_for(m);
  o.tokens = 10;
  o.max_len = 4096;
  EXPECT_THROW(sample_documents(m.model, o), Error);
  o.max_len = 64;
  o.temperature = 0.0;
  EXPECT_THROW(sample_documents(m.model, o), Error);
}
