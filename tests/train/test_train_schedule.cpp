// The pure parts of fine-tuning: lambda and learning-rate schedules, option
// checks, data packing and window order, the memory estimate, progress lines.
#include <torch/torch.h>

#include <cmath>
#include <set>

#include "common/error.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/memory_estimate.h"
#include "train/options_from_config.h"
#include "train/progress.h"
#include "train/schedule.h"
#include "train/train_data.h"
#include "train/train_options.h"
#include "train/train_test_util.h"

using namespace seedforge;

TEST(LambdaSchedule, LinearRampsOverTheWarmupFraction) {
  // 100 steps, warm-up 0.4 -> 40 steps: lambda = step / 40, then 1.
  EXPECT_DOUBLE_EQ(lambda_at(0, 100, 0.4, "linear"), 0.0);
  EXPECT_DOUBLE_EQ(lambda_at(10, 100, 0.4, "linear"), 0.25);
  EXPECT_DOUBLE_EQ(lambda_at(20, 100, 0.4, "linear"), 0.5);
  EXPECT_DOUBLE_EQ(lambda_at(39, 100, 0.4, "linear"), 39.0 / 40.0);
  EXPECT_DOUBLE_EQ(lambda_at(40, 100, 0.4, "linear"), 1.0);
  EXPECT_DOUBLE_EQ(lambda_at(99, 100, 0.4, "linear"), 1.0);
  EXPECT_DOUBLE_EQ(lambda_at(0, 100, 0.0, "linear"), 1.0);  // no warm-up
  EXPECT_DOUBLE_EQ(lambda_at(50, 100, 1.0, "linear"), 0.5);
}

TEST(LambdaSchedule, SigmoidHasTheSameEndPointsAndIsSymmetric) {
  EXPECT_DOUBLE_EQ(lambda_at(0, 100, 0.4, "sigmoid"), 0.0);
  EXPECT_NEAR(lambda_at(20, 100, 0.4, "sigmoid"), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(lambda_at(40, 100, 0.4, "sigmoid"), 1.0);
  EXPECT_DOUBLE_EQ(lambda_at(70, 100, 0.4, "sigmoid"), 1.0);
  // Slow start: below linear in the first half, above it in the second.
  EXPECT_LT(lambda_at(8, 100, 0.4, "sigmoid"), 0.2);
  EXPECT_GT(lambda_at(32, 100, 0.4, "sigmoid"), 0.8);
  EXPECT_NEAR(lambda_at(8, 100, 0.4, "sigmoid") + lambda_at(32, 100, 0.4, "sigmoid"), 1.0, 1e-12);
  // Value at p = 0.2 from the definition: (s(0.2) - s(0)) / (s(1) - s(0)), s(p) = 1 / (1 + e^(-10 (p - 0.5))).
  auto s = [](double p) { return 1.0 / (1.0 + std::exp(-10.0 * (p - 0.5))); };
  EXPECT_NEAR(lambda_at(8, 100, 0.4, "sigmoid"), (s(0.2) - s(0.0)) / (s(1.0) - s(0.0)), 1e-12);
  double previous = -1.0;
  for (int64_t step = 0; step <= 40; ++step) {
    const double v = lambda_at(step, 100, 0.4, "sigmoid");
    EXPECT_GT(v, previous);
    previous = v;
  }
}

TEST(LambdaSchedule, ConstantIsFullyQuantizedFromTheStart) {
  EXPECT_DOUBLE_EQ(lambda_at(0, 100, 0.4, "constant"), 1.0);
  EXPECT_DOUBLE_EQ(lambda_at(50, 100, 0.4, "constant"), 1.0);
  EXPECT_THROW(lambda_at(0, 100, 0.4, "cubic"), Error);
}

TEST(LrSchedule, WarmupThenCosineOrConstant) {
  // 10 warm-up steps: base * (step + 1) / 10.
  EXPECT_DOUBLE_EQ(lr_at(0, 110, 1e-3, 10, "cosine"), 1e-4);
  EXPECT_DOUBLE_EQ(lr_at(9, 110, 1e-3, 10, "cosine"), 1e-3);
  EXPECT_DOUBLE_EQ(lr_at(10, 110, 1e-3, 10, "cosine"), 1e-3);           // cosine starts at the top
  EXPECT_NEAR(lr_at(60, 110, 1e-3, 10, "cosine"), 0.5e-3, 1e-15);       // half way: cos(pi/2)
  EXPECT_NEAR(lr_at(109, 110, 1e-3, 10, "cosine"), 1e-3 * 0.5 * (1 + std::cos(M_PI * 0.99)), 1e-15);
  EXPECT_DOUBLE_EQ(lr_at(0, 100, 2e-3, 0, "cosine"), 2e-3);
  EXPECT_DOUBLE_EQ(lr_at(5, 110, 1e-3, 10, "constant"), 6e-4);
  EXPECT_DOUBLE_EQ(lr_at(100, 110, 1e-3, 10, "constant"), 1e-3);
  EXPECT_THROW(lr_at(0, 10, 1e-3, 0, "linear"), Error);
}

TEST(TrainOptions, DefaultsMatchTheConfigAndBadValuesAreRejected) {
  TrainOptions o;
  EXPECT_NO_THROW(validate_train_options(o, "test"));
  EXPECT_EQ(o.epochs, 2);
  EXPECT_EQ(o.batch_size, 2);
  EXPECT_DOUBLE_EQ(o.lr, 1e-4);
  EXPECT_DOUBLE_EQ(o.warmup_fraction, 0.4);
  EXPECT_DOUBLE_EQ(o.max_vram_gb, 16.0);
  auto message = [](const TrainOptions& bad) {
    try {
      validate_train_options(bad, "config.json");
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUsage);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  TrainOptions bad = o;
  bad.warmup_fraction = 1.5;
  EXPECT_EQ(message(bad), "config.json: bitnet.warmup_fraction must be in [0, 1], got 1.5");
  bad = o;
  bad.warmup_fraction = -0.1;
  EXPECT_EQ(message(bad), "config.json: bitnet.warmup_fraction must be in [0, 1], got -0.1");
  bad = o;
  bad.lr = -0.001;
  EXPECT_EQ(message(bad), "config.json: bitnet.lr must be >= 0, got -0.001");
  bad = o;
  bad.schedule = "cubic";
  EXPECT_NE(message(bad).find("bitnet.schedule"), std::string::npos);
  bad = o;
  bad.activation_bits = 1;
  EXPECT_NE(message(bad).find("bitnet.activation_bits"), std::string::npos);
  bad = o;
  bad.device = "tpu";
  EXPECT_NE(message(bad).find("hardware.device"), std::string::npos);
  bad = o;
  bad.checkpoint_every = 10;
  EXPECT_NE(message(bad).find("bitnet.checkpoint_dir"), std::string::npos);
}

TEST(TrainData, PacksDocumentsWithBosAndRejectsShortText) {
  const auto tokenizer = load_tokenizer(test::stories_tokenizer());
  TrainOptions o;
  o.seq_len = 3;
  const std::vector<std::string> docs = {"Once upon a time", "x"};  // 403 407 261 378 | 410 444
  const TrainData data = make_train_data(docs, "docs", {}, "", *tokenizer, o, 512);
  EXPECT_EQ(data.stream, (std::vector<int32_t>{1, 403, 407, 261, 378, 1, 410, 444}));
  EXPECT_EQ(data.windows, 2);  // (8 - 1) / 3
  // 8 tokens < seq_len + 1 = 9: not one window.
  try {
    o.seq_len = 8;
    make_train_data({"Once upon a time", "x"}, "short.txt", {}, "", *tokenizer, o, 512);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("short.txt: 8 tokens"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bitnet.seq_len + 1 = 9"), std::string::npos) << e.what();
  }
  o.seq_len = 1024;
  EXPECT_THROW(make_train_data(docs, "docs", {}, "", *tokenizer, o, 512), Error);  // exceeds max_seq_len
}

TEST(TrainData, HeldOutSplitAndFiles) {
  const auto tokenizer = load_tokenizer(test::stories_tokenizer());
  TrainOptions o;
  o.seq_len = 4;
  o.valid_fraction = 0.25;
  const std::vector<std::string> docs = {"Once upon a time", "Lily's mom said", "x", "Once upon a time"};
  const TrainData data = make_train_data(docs, "docs", {}, "", *tokenizer, o, 512);
  EXPECT_EQ(data.train_documents, 3);
  ASSERT_EQ(data.valid_documents.size(), 1u);
  EXPECT_EQ(data.valid_documents[0], (std::vector<int32_t>{1, 403, 407, 261, 378}));
  // A separate validation set wins over the split.
  const TrainData with_file = make_train_data(docs, "docs", {"x"}, "valid.txt", *tokenizer, o, 512);
  EXPECT_EQ(with_file.train_documents, 4);
  EXPECT_EQ(with_file.valid_source, "valid.txt");

  test::TempDir dir;
  test::write_text(dir.file("empty.txt"), "\n\n  \n");
  EXPECT_THROW(load_train_data({dir.file("empty.txt")}, "", *tokenizer, o, 512), Error);
  EXPECT_THROW(load_train_data({dir.file("missing.txt")}, "", *tokenizer, o, 512), Error);
  test::write_text(dir.file("docs.jsonl"), "{\"text\": \"Once upon a time\"}\n{\"text\": \"Once upon a time\"}\n");
  o.valid_fraction = 0;
  const TrainData jsonl = load_train_data({dir.file("docs.jsonl")}, "", *tokenizer, o, 512);
  EXPECT_EQ(jsonl.stream.size(), 10u);
}

TEST(WindowSampler, EveryEpochIsAPermutationAndTheOrderIsReproducible) {
  WindowSampler a(37, 5), b(37, 5), c(37, 6);
  std::vector<int64_t> first, second;
  for (int64_t p = 0; p < 74; ++p) (p < 37 ? first : second).push_back(a.window_at(p));
  EXPECT_EQ(std::set<int64_t>(first.begin(), first.end()).size(), 37u);
  EXPECT_EQ(std::set<int64_t>(second.begin(), second.end()).size(), 37u);
  EXPECT_NE(first, second);  // reshuffled each epoch
  // Random access (as after a resume) gives the same windows.
  for (int64_t p = 73; p >= 0; --p) EXPECT_EQ(b.window_at(p), p < 37 ? first[size_t(p)] : second[size_t(p - 37)]);
  int same = 0;
  for (int64_t p = 0; p < 37; ++p) same += c.window_at(p) == first[size_t(p)];
  EXPECT_LT(same, 10);  // another seed, another order
}

TEST(TotalSteps, EpochsOrMaxSteps) {
  TrainOptions o;
  o.batch_size = 2;
  o.grad_accum = 4;
  o.epochs = 2;
  EXPECT_EQ(total_steps(o, 100), 25);  // 200 windows / 8 per step
  EXPECT_EQ(total_steps(o, 101), 26);  // rounded up
  o.max_steps = 7;
  EXPECT_EQ(total_steps(o, 100), 7);
  o.max_steps = 0;
  o.epochs = 0;
  EXPECT_EQ(total_steps(o, 100), 0);  // no fine-tuning
}

TEST(MemoryEstimate, ParameterTermsAreExactAndTheLargestTermIsNamed) {
  const ModelConfig c = test::tiny_config();
  Transformer model(c);
  int64_t real = 0;
  for (const auto& p : model->parameters()) real += p.numel();
  EXPECT_EQ(parameter_count(c), real);
  TrainOptions o;
  const MemoryEstimate e = estimate_training_memory(c, o, /*teacher=*/true, /*cuda=*/false, false, false);
  EXPECT_EQ(e.terms[0].first, "weights");
  EXPECT_DOUBLE_EQ(e.terms[0].second, 4.0 * double(real));
  EXPECT_DOUBLE_EQ(e.terms[2].second, 8.0 * double(real));
  // Activation checkpointing and bf16 shrink the activations only.
  const MemoryEstimate ck = estimate_training_memory(c, o, true, false, true, true);
  EXPECT_LT(ck.terms[4].second, e.terms[4].second);
  EXPECT_DOUBLE_EQ(ck.terms[0].second, e.terms[0].second);
  // A big batch does not fit 1 GB: the message names the activations.
  o.batch_size = 512;
  o.seq_len = 512;
  ModelConfig big = c;
  big.max_seq_len = 512;
  const MemoryEstimate huge = estimate_training_memory(big, o, false, true, false, false);
  try {
    check_memory_fits(huge, 1.0, "fine-tuning");
    FAIL() << "expected an error";
  } catch (const Error& err) {
    const std::string m = err.what();
    EXPECT_NE(m.find("hardware.max_vram_gb = 1"), std::string::npos) << m;
    EXPECT_NE(m.find("largest term is activations"), std::string::npos) << m;
    EXPECT_NE(m.find("bitnet.batch_size"), std::string::npos) << m;
  }
  EXPECT_NO_THROW(check_memory_fits(e, 1.0, "fine-tuning"));
}

TEST(Progress, LinesAndDurations) {
  EXPECT_EQ(format_duration(12.4), "12s");
  EXPECT_EQ(format_duration(200), "3m20s");
  EXPECT_EQ(format_duration(3720), "1h02m");
  StepReport r;
  r.step = 120;
  r.total_steps = 1500;
  r.lambda = 0.3;
  r.loss = 2.34567;
  r.lr = 1e-3;
  r.tokens_per_second = 12345.4;
  r.eta_seconds = 200;
  EXPECT_EQ(format_step(r), "step 120/1500 lambda 0.300 loss 2.3457 lr 1.00e-03 12345 tok/s ETA 3m20s");
  char* text = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&text, &size);
  ProgressPrinter plain(out, /*bar=*/false, /*every=*/2);
  for (int64_t s = 1; s <= 5; ++s) {
    r.step = s;
    r.total_steps = 5;
    plain.step(r);
  }
  std::fclose(out);
  const std::string printed(text, size);
  free(text);
  // Steps 1 (first), 2, 4 and 5 (last).
  EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), 4) << printed;
  EXPECT_EQ(printed.find('\r'), std::string::npos);
}

TEST(GlobalBatch, ARunOfOtherRanksKeepsTheConfigsWindowsAStepWhereTheyDivide) {
  TrainOptions o;
  o.batch_size = 4;
  o.grad_accum = 1;
  // The planned ranks: nothing changes.
  EXPECT_EQ(fit_global_batch(o, 2, 2), "");
  EXPECT_EQ(o.world_size, 2);
  EXPECT_EQ(o.grad_accum, 1);
  // One process alone: two micro-batches of 4, the same 8 windows a step.
  EXPECT_EQ(fit_global_batch(o, 2, 1),
            "hardware.processes plans 2 ranks, this run has 1 process: bitnet.grad_accum 1 -> 2 keeps the global batch "
            "of 8 windows a step");
  EXPECT_EQ(o.world_size, 1);
  EXPECT_EQ(o.grad_accum, 2);
  // Four ranks cannot share two micro-batches: the run says its batch differs.
  o.grad_accum = 1;
  EXPECT_EQ(fit_global_batch(o, 2, 4),
            "hardware.processes plans 2 ranks, this run has 4 ranks, which do not divide its 2 micro-batches a step: "
            "the global batch is 16 windows a step instead of 8");
  EXPECT_EQ(o.grad_accum, 1);
  EXPECT_THROW(fit_global_batch(o, 0, 1), Error);
  // The property over a grid: the windows a step stay those of the plan
  // whenever the note does not say otherwise, and grad_accum stays >= 1.
  for (int planned = 1; planned <= 6; ++planned) {
    for (int world = 1; world <= 6; ++world) {
      for (int64_t accum = 1; accum <= 4; ++accum) {
        TrainOptions p;
        p.batch_size = 3;
        p.grad_accum = accum;
        const std::string note = fit_global_batch(p, planned, world);
        EXPECT_GE(p.grad_accum, 1);
        EXPECT_EQ(p.world_size, world);
        if (note.find("instead of") == std::string::npos) {
          EXPECT_EQ(p.grad_accum * world, accum * planned) << planned << " planned, " << world << " running";
        } else {
          EXPECT_NE((accum * planned) % world, 0);
          EXPECT_EQ(p.grad_accum, accum);
        }
      }
    }
  }
}
