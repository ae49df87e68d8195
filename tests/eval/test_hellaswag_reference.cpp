// The HellaSwag scorer against an independent implementation:
// tests/python/hellaswag_reference.py (Debian python3-torch) tokenizes with
// its own port of llama2.c's encode(), runs its own model forward one
// sequence at a time, and scores the lm-eval way. Per-ending
// log-likelihoods must agree within float32 rounding, and so must the picks.
#include <nlohmann/json.hpp>

#include <fstream>

#include "eval/hellaswag.h"
#include "eval/multiple_choice.h"
#include "io/model_loader.h"
#include "test_util.h"

using namespace seedforge;

TEST(HellaswagReference, StoriesFirst60TasksMatchPython) {
  constexpr int kTasks = 60;
  const std::string jsonl = data_path("hellaswag/hellaswag_val_sample.jsonl");
  test::TempDir dir;
  const std::string out = dir.file("reference.json");
  const auto run = test::run_command(test::python() + " " + SEEDFORGE_SOURCE_DIR + "/tests/python/hellaswag_reference.py " +
                                     test::stories_model() + " " + test::stories_tokenizer() + " " + jsonl + " " +
                                     std::to_string(kTasks) + " " + out);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  nlohmann::json ref;
  std::ifstream(out) >> ref;

  LoadedModel m = load_model(test::stories_model(), test::stories_tokenizer());
  auto tasks = read_hellaswag(jsonl);
  tasks.resize(kTasks);
  MultipleChoiceOptions options;
  options.max_seq_len = m.checkpoint.config.max_seq_len;
  const auto r = score_multiple_choice(m.model, *m.tokenizer, tasks, options);

  ASSERT_EQ(ref["tasks"].get<int>(), kTasks);
  double max_diff = 0.0;
  for (int t = 0; t < kTasks; ++t) {
    for (int e = 0; e < 4; ++e) {
      const double want = ref["logliks"][t][e].get<double>();
      const double got = r.per_task[static_cast<size_t>(t)].endings[static_cast<size_t>(e)].loglik;
      max_diff = std::max(max_diff, std::abs(want - got));
      EXPECT_NEAR(got, want, 2e-3) << "task " << t << " ending " << e;
    }
    EXPECT_EQ(r.per_task[static_cast<size_t>(t)].predicted, ref["predicted"][t].get<int>()) << t;
    EXPECT_EQ(r.per_task[static_cast<size_t>(t)].predicted_norm, ref["predicted_norm"][t].get<int>()) << t;
  }
  EXPECT_DOUBLE_EQ(r.acc, ref["acc"].get<double>());
  EXPECT_DOUBLE_EQ(r.acc_norm, ref["acc_norm"].get<double>());
  std::cout << "max |loglik - python| over " << kTasks * 4 << " endings: " << max_diff << "\n";
}

// The whole 500-task sample (slow: about a minute): the Python reference's
// accuracy and normalized accuracy, reproduced from both file layouts.
TEST(HellaswagSample, All500TasksBothLayoutsMatchPython) {
  const std::string jsonl = data_path("hellaswag/hellaswag_val_sample.jsonl");
  test::TempDir dir;
  const std::string out = dir.file("reference.json");
  const auto run = test::run_command(test::python() + " " + SEEDFORGE_SOURCE_DIR + "/tests/python/hellaswag_reference.py " +
                                     test::stories_model() + " " + test::stories_tokenizer() + " " + jsonl + " 500 " + out);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  nlohmann::json ref;
  std::ifstream(out) >> ref;
  ASSERT_EQ(ref["tasks"].get<int>(), 500);

  LoadedModel m = load_model(test::stories_model(), test::stories_tokenizer());
  MultipleChoiceOptions options;
  options.max_seq_len = m.checkpoint.config.max_seq_len;
  for (const char* file : {"hellaswag/hellaswag_val_sample.jsonl", "hellaswag/hellaswag_val_sample.txt"}) {
    const auto r = score_multiple_choice(m.model, *m.tokenizer, read_hellaswag(data_path(file)), options);
    EXPECT_EQ(r.tasks, 500) << file;
    EXPECT_DOUBLE_EQ(r.acc, ref["acc"].get<double>()) << file;
    EXPECT_DOUBLE_EQ(r.acc_norm, ref["acc_norm"].get<double>()) << file;
    std::cout << file << ": acc " << r.acc << " acc_norm " << r.acc_norm << " (python " << ref["acc"] << ", "
              << ref["acc_norm"] << ")\n";
  }
}
