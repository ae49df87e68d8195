// The inference engine against the libtorch model on stories260K compressed by
// Stage 1 (a few fine-tuning steps: the file has the shipped structure, not
// the shipped accuracy), every kernel variant this CPU runs.
//
// Two kinds of comparison. With full-precision activations the two run the
// same arithmetic in another order: logits within 1e-4 relative, top-1 and
// perplexity within 1e-4, greedy text identical. With 8-bit activations a
// last-bit difference before the quantizer (any reordered fp32 sum: libtorch's
// BLAS against the engine's exact integer sums) moves an activation that sits
// on a rounding boundary by a whole int8 step now and then, and later
// positions move with it (by up to about 2 % of a logit row on these models).
// libtorch does the same to itself: one ulp of noise on its norm weights, or
// another thread count, moves as many rows by as much (measured on make demo's
// model: 1,153 and 950 of 3,901 rows beyond 1e-3, the engine 1,332; maximum
// 2.0 %, 1.8 %, 1.8 %). So the 8-bit comparisons measure libtorch's own spread
// under such noise (all 1-D weights scaled by 1 +- 8 ulps, three seeds: see
// kNoiseUlps) and require the engine to stay within it; the quantizer itself is checked bit
// for bit, and the kernels exactly (test_kernels.cpp).
//
// Also: greedy generation identical for 200 tokens, HellaSwag
// log-likelihoods, the KV cache (decode step by step, rewind) against
// whole-sequence runs, sessions side by side, the engine's memory, corrupt
// files refused, and make demo's model when out/stories260K.stage1.pt exists.
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "common/error.h"
#include "eval/documents.h"
#include "eval/generate.h"
#include "eval/hellaswag.h"
#include "eval/multiple_choice.h"
#include "eval/text_eval.h"
#include "infer/generate.h"
#include "infer/kernels.h"
#include "infer/session.h"
#include "io/pt_file.h"
#include "io/zip_archive.h"
#include "pipeline/pipeline_test_util.h"
#include "pipeline/run_stage1.h"
#include "pipeline/stage1_file.h"
#include "pipeline/stage1_model.h"
#include "runtime/threads.h"
#include "train/bit_linear.h"

using namespace seedforge;

namespace {

// One Stage-1 run per configuration, shared by the tests (each takes seconds).
struct Run {
  test::TempDir dir;
  std::string path;
  explicit Run(const Stage1Config& config) : path(dir.file("model.stage1.pt")) {
    run_stage1(test::stories_model(), path, config);
  }
};

// The shipped layout: one fp16 scale per row and 32 columns, 8-bit activations.
Run& shipped() {
  static Run run([] {
    Stage1Config c = test::tiny_config(4);
    c.bitnet.per_row_scale = true;
    c.bitnet.scale_group = 32;
    c.encoding.ternary_scale = ScaleEncoding::kFp16;
    return c;
  }());
  return run;
}

// The shipped layout with make demo's projection levels: attention at 5
// levels (-2..2), the MLP at 7 (-3..3), on the engine's I4-32 kernel.
Run& levels() {
  static Run run([] {
    Stage1Config c = test::tiny_config(4);
    c.bitnet.per_row_scale = true;
    c.bitnet.scale_group = 32;
    c.bitnet.projection_levels = {"*:5", "*.mlp.*:7"};
    c.encoding.ternary_scale = ScaleEncoding::kFp16;
    return c;
  }());
  return run;
}

// Levels with full-precision activations: the dense path.
Run& levels_float_activations() {
  static Run run([] {
    Stage1Config c = test::tiny_config(2, /*activation_bits=*/0);
    c.bitnet.projection_levels = {"*:5", "*.mlp.*:7"};
    return c;
  }());
  return run;
}

// One fp32 scale per tensor (format version 1).
Run& per_tensor() {
  static Run run(test::tiny_config(2));
  return run;
}

// Full-precision activations.
Run& float_activations() {
  static Run run(test::tiny_config(2, /*activation_bits=*/0));
  return run;
}

// The parameter-free input norm and a scale per row.
Run& input_norm() {
  static Run run([] {
    Stage1Config c = test::tiny_config(2);
    c.bitnet.per_row_scale = true;
    c.bitnet.input_norm = true;
    return c;
  }());
  return run;
}

LoadedModel torch_model(const std::string& path) {
  LoadedModel m = open_model(path, "", torch::kCPU, ModelEngine::kTorch);
  EXPECT_TRUE(m.model);
  EXPECT_FALSE(m.engine);
  return m;
}

std::vector<std::vector<int32_t>> valid_documents(const Tokenizer& tokenizer, int64_t window, size_t count) {
  std::vector<std::string> docs = read_documents(test::valid_text());
  if (docs.size() > count) docs.resize(count);
  return tokenize_documents(docs, tokenizer, window);
}

// max over rows of ||a - b||_inf / ||b||_inf
double max_row_relative(const float* a, const float* b, int64_t rows, int64_t cols) {
  double worst = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    double diff = 0.0, ref = 0.0;
    for (int64_t c = 0; c < cols; ++c) {
      diff = std::max(diff, double(std::fabs(a[r * cols + c] - b[r * cols + c])));
      ref = std::max(ref, double(std::fabs(b[r * cols + c])));
    }
    worst = std::max(worst, diff / std::max(ref, 1e-30));
  }
  return worst;
}

// The size of the noise, in ulps: the engine's sums (exact integers, or fp32
// in another order) differ from libtorch's BLAS sums of K = 64 to 172 terms
// by about sqrt(K), 8 to 13, roundings, not one. With one ulp three draws
// undersample libtorch's spread: on make demo's model (5 and 7 levels) the
// engine's generic kernel parted from libtorch's greedy text after 96 and 92
// tokens where libtorch under one-ulp noise kept all 200, and under 8 ulps
// parted after 66 and 62; on the 5/7-level test model twelve one-ulp draws
// moved the perplexity by up to 0.0173 where three gave 0.0072, while the
// engine differed by 0.0211 (its dense path, as levels ran before the I4-32
// kernel: 0.0177).
constexpr float kNoiseUlps = 8.0f;

// Multiplies every 1-D parameter (norm weights, biases) of a libtorch model
// element by element by 1 + ulps x 1.2e-7 or 1 - ulps x 6e-8 (about `ulps`
// ulps up or down, drawn with `seed`) until the object dies: noise of the size
// that reordered fp32 sums leave.
class UlpNoise {
 public:
  UlpNoise(Transformer& model, uint32_t seed, float ulps = kNoiseUlps) : model_(model) {
    torch::NoGradGuard no_grad;
    std::mt19937 rng(seed);
    for (auto& p : model_->parameters()) {
      if (p.dim() != 1) continue;
      saved_.push_back(p.clone());
      float* w = p.data_ptr<float>();
      for (int64_t i = 0; i < p.numel(); ++i) w[i] *= (rng() & 1) ? 1.0f + ulps * 1.2e-7f : 1.0f - ulps * 6e-8f;
    }
  }
  ~UlpNoise() {
    torch::NoGradGuard no_grad;
    size_t i = 0;
    for (auto& p : model_->parameters()) {
      if (p.dim() == 1) p.copy_(saved_[i++]);
    }
  }

 private:
  Transformer& model_;
  std::vector<torch::Tensor> saved_;
};

constexpr uint32_t kNoiseSeeds[] = {3, 4, 5};

// Row-by-row differences of logits against libtorch's: rows beyond 1e-3
// relative and the largest, summed over documents.
struct RowStats {
  int64_t rows = 0, beyond = 0;
  double max = 0.0;
  void add(const float* got, const float* want, int64_t n, int64_t V) {
    for (int64_t r = 0; r < n; ++r) {
      const double d = max_row_relative(got + r * V, want + r * V, 1, V);
      beyond += d > 1e-3 ? 1 : 0;
      max = std::max(max, d);
      ++rows;
    }
  }
};

torch::Tensor torch_logits(Transformer& model, const std::vector<int32_t>& doc) {
  torch::NoGradGuard no_grad;
  const torch::Tensor ids = torch::tensor(std::vector<int64_t>(doc.begin(), doc.end())).view({1, -1});
  return model->forward(ids).contiguous();
}

// Engine logits against libtorch's on the first `n_docs` valid.txt documents,
// for every kernel variant. full_precision: every row within 1e-4; else within
// libtorch's own spread under ulp noise (see the header comment).
void expect_logits_match(const std::string& path, bool full_precision, size_t n_docs) {
  LoadedModel ref = torch_model(path);
  auto model = infer::load_model(path);
  const int64_t V = model->config.vocab_size;
  const auto docs = valid_documents(*ref.tokenizer, model->config.max_seq_len, n_docs);
  std::vector<torch::Tensor> want;
  for (const auto& doc : docs) want.push_back(torch_logits(ref.model, doc));
  RowStats band;
  if (!full_precision) {
    for (uint32_t seed : kNoiseSeeds) {
      UlpNoise noise(ref.model, seed);
      for (size_t d = 0; d < docs.size(); ++d) {
        band.add(torch_logits(ref.model, docs[d]).data_ptr<float>(), want[d].data_ptr<float>(),
                 static_cast<int64_t>(docs[d].size()), V);
      }
    }
    band.rows /= 3;
    band.beyond /= 3;
  }
  for (int i = 0; i < infer::runnable_kernel_count(); ++i) {
    infer::SessionOptions options;
    options.kernels = infer::runnable_kernels(i).name;
    infer::Session s(model, options);
    RowStats got;
    for (size_t d = 0; d < docs.size(); ++d) {
      const int64_t n = static_cast<int64_t>(docs[d].size());
      s.reset();
      got.add(s.forward(docs[d].data(), n, /*all_logits=*/true), want[d].data_ptr<float>(), n, V);
    }
    std::printf("%s %s: %lld of %lld rows beyond 1e-3 relative, max %.3g (libtorch under ulp noise: %lld rows, max %.3g)\n",
                path.c_str(), options.kernels.c_str(), static_cast<long long>(got.beyond), static_cast<long long>(got.rows),
                got.max, static_cast<long long>(band.beyond), band.max);
    if (full_precision) {
      EXPECT_LT(got.max, 1e-4) << path << " kernels " << options.kernels;
    } else {
      EXPECT_LE(got.max, 1.5 * band.max + 1e-3) << path << " kernels " << options.kernels;
      EXPECT_LE(got.beyond, 2 * band.beyond + got.rows / 20) << path << " kernels " << options.kernels;
    }
  }
}

// Top-1 and perplexity of the engine against libtorch's: within 1e-4, or
// (8-bit) within twice libtorch's own spread under ulp noise when that is larger.
void expect_text_matches(const std::string& path, bool full_precision, size_t n_docs) {
  LoadedModel ref = torch_model(path);
  auto model = infer::load_model(path);
  const auto docs = valid_documents(*ref.tokenizer, model->config.max_seq_len, n_docs);
  const TextEvalResult want = evaluate_documents(ref.model, docs);
  infer::SessionOptions one;
  const TextEvalResult got = evaluate_documents(model, docs, {}, one);
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_EQ(got.documents, want.documents);
  double band_top1 = 0.0, band_ppl = 0.0;
  if (!full_precision) {
    for (uint32_t seed : kNoiseSeeds) {
      UlpNoise noise(ref.model, seed);
      const TextEvalResult moved = evaluate_documents(ref.model, docs);
      band_top1 = std::max(band_top1, std::fabs(moved.top1 - want.top1));
      band_ppl = std::max(band_ppl, std::fabs(moved.perplexity - want.perplexity));
    }
  }
  std::printf("%s: engine top-1 %.6f perplexity %.6f, libtorch %.6f %.6f over %lld tokens; libtorch under ulp noise moves "
              "by up to %.3g and %.3g\n",
              path.c_str(), got.top1, got.perplexity, want.top1, want.perplexity, static_cast<long long>(got.tokens),
              band_top1, band_ppl);
  EXPECT_LE(std::fabs(got.top1 - want.top1), std::max(1e-4, 2 * band_top1));
  EXPECT_LE(std::fabs(got.perplexity - want.perplexity), std::max(1e-4, 2 * band_ppl));
  // Two sessions side by side give the same sums, bit for bit.
  infer::SessionOptions two;
  two.threads = 2;
  const TextEvalResult parallel = evaluate_documents(model, docs, {}, two);
  EXPECT_EQ(parallel.nll_sum, got.nll_sum);
  EXPECT_EQ(parallel.correct, got.correct);
}

std::vector<int32_t> torch_greedy(Transformer& model, const std::vector<int32_t>& start, int64_t steps) {
  torch::NoGradGuard no_grad;
  KVCache cache = model->make_cache(1, static_cast<int64_t>(start.size()) + steps);
  auto logits = model->forward_cached(torch::tensor(std::vector<int64_t>(start.begin(), start.end())).view({1, -1}), cache);
  std::vector<int32_t> out;
  for (int64_t i = 0; i < steps; ++i) {
    const int64_t next = logits[0][-1].argmax().item<int64_t>();
    out.push_back(static_cast<int32_t>(next));
    logits = model->forward_cached(torch::full({1, 1}, next, torch::kInt64), cache);
  }
  return out;
}

size_t first_difference(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

// Greedy decoding for `steps` tokens from BOS + prompt, not stopping at EOS,
// on both: the same ids. With 8-bit activations a near-tie after a quantizer
// step (see the header comment) may part the two; then libtorch under ulp
// noise must part from itself at or before that token too.
void expect_greedy_identical(const std::string& path, int64_t steps) {
  LoadedModel ref = torch_model(path);
  auto model = infer::load_model(path);
  const int64_t V = model->config.vocab_size;
  for (const char* prompt : {"", "Once upon a time", "The little dog"}) {
    std::vector<int32_t> start = {ref.tokenizer->bos_id()};
    for (int32_t t : ref.tokenizer->encode(prompt)) start.push_back(t);
    const std::vector<int32_t> want = torch_greedy(ref.model, start, steps);
    size_t stable = want.size();  // tokens libtorch keeps under ulp noise
    for (uint32_t seed : kNoiseSeeds) {
      UlpNoise noise(ref.model, seed);
      stable = std::min(stable, first_difference(torch_greedy(ref.model, start, steps), want));
    }
    for (int i = 0; i < infer::runnable_kernel_count(); ++i) {
      infer::SessionOptions so;
      so.kernels = infer::runnable_kernels(i).name;
      so.threads = i % 2 + 1;
      infer::Session s(model, so);
      const float* l = s.forward(start.data(), static_cast<int64_t>(start.size()));
      std::vector<int32_t> got;
      for (int64_t k = 0; k < steps; ++k) {
        int32_t next = infer::argmax(l, V);
        got.push_back(next);
        l = s.forward(&next, 1);
      }
      const size_t same = first_difference(got, want);
      std::printf("%s prompt '%s' %s: greedy ids equal for %zu of %lld tokens (libtorch under ulp noise: %zu)\n",
                  path.c_str(), prompt, so.kernels.c_str(), same, static_cast<long long>(steps), stable);
      EXPECT_GE(same, std::min<size_t>(stable, static_cast<size_t>(steps))) << path << " prompt '" << prompt << "' kernels " << so.kernels;
    }
  }
}

}  // namespace

TEST(InferEngine, QuantizerEqualsBitLinearBitForBit) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int bits : {8, 4, 2}) {
    for (int64_t k : {1, 64, 172, 1000}) {
      for (int trial = 0; trial < 20; ++trial) {
        torch::Tensor x = torch::empty({k});
        float* p = x.data_ptr<float>();
        for (int64_t i = 0; i < k; ++i) p[i] = normal(rng) * (trial % 3 == 0 ? 1e-3f : 3.0f);
        if (trial == 1) {
          // Exact halves after scaling: max 127 maps to 127, 0.5 and 1.5 steps round to even.
          p[0] = 127.0f;
          if (k > 2) p[1] = 0.5f, p[2] = 1.5f;
        }
        if (trial == 2) x.zero_();  // all zero: the 1e-5 floor
        const torch::Tensor want = quantize_activations(x, bits);
        std::vector<int8_t> q(static_cast<size_t>(k));
        const float s = infer::quantize_activations_int8(p, k, bits, q.data());
        const float* w = want.data_ptr<float>();
        for (int64_t i = 0; i < k; ++i) {
          ASSERT_EQ(float(q[static_cast<size_t>(i)]) / s, w[i]) << "bits " << bits << " k " << k << " trial " << trial << " i " << i;
        }
      }
    }
  }
}

TEST(InferEngine, Fp16ConversionEqualsTorchs) {
  // Random magnitudes from 2^-30 to 2^17 (subnormal, normal and overflowing
  // fp16), exact ties, and the edges.
  std::mt19937 rng(21);
  std::vector<float> values = {0.0f, -0.0f, 65504.0f, 65520.0f, 65519.996f, 1e-8f, 2.98e-8f, 5.96e-8f, 6.1e-5f,
                               6.103515625e-05f, 1.0f + 1.0f / 2048.0f, 1.0f + 3.0f / 2048.0f, INFINITY, -INFINITY};
  std::uniform_real_distribution<float> e(-30.0f, 17.0f);
  for (int i = 0; i < 200000; ++i) values.push_back((i % 2 ? -1.0f : 1.0f) * std::exp2(e(rng)));
  for (int i = 0; i < 2048; ++i) values.push_back(std::ldexp(1.0f + (2 * i + 1) / 4096.0f, i % 40 - 24));  // halfway cases
  const torch::Tensor t = torch::from_blob(values.data(), {static_cast<int64_t>(values.size())}, torch::kFloat32).to(torch::kFloat16);
  const uint16_t* want = reinterpret_cast<const uint16_t*>(t.data_ptr<at::Half>());
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_EQ(infer::float_to_fp16(values[i]), want[i]) << values[i];
    if (!std::isnan(values[i])) {
      ASSERT_EQ(infer::fp16_to_float(want[i]), static_cast<float>(t[static_cast<int64_t>(i)].item<at::Half>()));
    }
  }
}

TEST(InferEngine, LogitsMatchLibtorchInEveryKernelVariant) {
  expect_logits_match(float_activations().path, /*full_precision=*/true, 8);
  expect_logits_match(levels_float_activations().path, /*full_precision=*/true, 8);
  expect_logits_match(shipped().path, false, 20);
  expect_logits_match(levels().path, false, 20);
  expect_logits_match(per_tensor().path, false, 20);
  expect_logits_match(input_norm().path, false, 20);
}

TEST(InferEngine, TextTop1AndPerplexityMatchLibtorch) {
  expect_text_matches(float_activations().path, /*full_precision=*/true, 300);
  expect_text_matches(shipped().path, false, 300);
  expect_text_matches(levels().path, false, 300);
}

TEST(InferEngine, GreedyGenerationIsIdenticalFor200Tokens) {
  expect_greedy_identical(float_activations().path, 200);
  expect_greedy_identical(shipped().path, 200);
  expect_greedy_identical(levels().path, 200);
  // Through generate() (which stops at BOS or EOS) as the CLI runs it.
  LoadedModel ref = torch_model(shipped().path);
  auto model = infer::load_model(shipped().path);
  GenerateOptions options;
  options.prompt = "Once upon a time";
  options.steps = 220;
  infer::Session s(model);
  const GenerateResult got = infer::generate(s, *ref.tokenizer, options);
  const GenerateResult want = generate(ref.model, *ref.tokenizer, options);
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_EQ(got.text, want.text);
  // Sampling: the same seed gives the same text on the same engine.
  options.temperature = 0.8;
  infer::Session s2(model);
  EXPECT_EQ(infer::generate(s, *ref.tokenizer, options).tokens, infer::generate(s2, *ref.tokenizer, options).tokens);
}

// make demo's model (out/stories260K.stage1.pt, 8,000 fine-tuning steps),
// when it exists: the whole valid.txt and greedy text.
TEST(InferEngine, MakeDemoModel) {
  const std::string path = std::string(SEEDFORGE_SOURCE_DIR) + "/out/stories260K.stage1.pt";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no " << path << " (make demo writes it)";
  expect_greedy_identical(path, 200);
  expect_logits_match(path, false, 60);
  expect_text_matches(path, false, 100000);
}

TEST(InferEngine, HellaswagLogLikelihoodsMatchLibtorch) {
  LoadedModel ref = torch_model(shipped().path);
  auto model = infer::load_model(shipped().path);
  std::vector<MultipleChoiceTask> tasks = read_hellaswag(data_path("hellaswag/hellaswag_val_sample.jsonl"));
  tasks.resize(40);
  MultipleChoiceOptions options;
  const MultipleChoiceResult want = score_multiple_choice(ref.model, *ref.tokenizer, tasks, options, "sample");
  auto max_difference = [&](const MultipleChoiceResult& r) {
    double worst = 0.0;
    for (size_t t = 0; t < r.per_task.size(); ++t) {
      for (size_t e = 0; e < r.per_task[t].endings.size(); ++e) {
        worst = std::max(worst, std::fabs(r.per_task[t].endings[e].loglik - want.per_task[t].endings[e].loglik));
      }
    }
    return worst;
  };
  double band = 0.0, band_acc = 0.0;
  for (uint32_t seed : kNoiseSeeds) {
    UlpNoise noise(ref.model, seed);
    const MultipleChoiceResult moved = score_multiple_choice(ref.model, *ref.tokenizer, tasks, options, "sample");
    band = std::max(band, max_difference(moved));
    band_acc = std::max(band_acc, std::fabs(moved.acc - want.acc));
  }
  infer::SessionOptions two;
  two.threads = 2;
  const MultipleChoiceResult got = score_multiple_choice(model, *ref.tokenizer, tasks, options, "sample", two);
  ASSERT_EQ(got.per_task.size(), want.per_task.size());
  EXPECT_EQ(got.scored_tokens, want.scored_tokens);
  EXPECT_EQ(got.sequences, want.sequences);
  std::printf("HellaSwag log-likelihoods: engine within %.3g of libtorch (libtorch under ulp noise: %.3g); acc %.3f vs %.3f\n",
              max_difference(got), band, got.acc, want.acc);
  EXPECT_LE(max_difference(got), 2 * band + 1e-3);
  EXPECT_LE(std::fabs(got.acc - want.acc), std::max(2 * band_acc, 1.0 / 40 + 1e-9));
  // The same scores on one session, and the shared-prefix reuse against whole sequences.
  const MultipleChoiceResult serial = score_multiple_choice(model, *ref.tokenizer, tasks, options, "sample", {});
  for (size_t t = 0; t < got.per_task.size(); ++t) {
    for (size_t e = 0; e < got.per_task[t].endings.size(); ++e) {
      EXPECT_EQ(serial.per_task[t].endings[e].loglik, got.per_task[t].endings[e].loglik);
    }
  }
}

TEST(InferEngine, DecodeStepsAndRewindEqualWholeSequenceRuns) {
  auto model = infer::load_model(shipped().path);
  const int64_t V = model->config.vocab_size;
  std::vector<int32_t> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back(static_cast<int32_t>((i * 2654435761LL) % V));
  infer::Session whole(model);
  const float* all = whole.forward(tokens.data(), 40, true);
  const std::vector<float> want(all, all + 40 * V);
  infer::Session steps(model);
  for (int64_t i = 0; i < 40; ++i) {
    const float* got = steps.forward(&tokens[static_cast<size_t>(i)], 1);
    EXPECT_LT(max_row_relative(got, want.data() + i * V, 1, V), 1e-5) << "position " << i;
  }
  EXPECT_EQ(steps.position(), 40);
  // Rewind to 25 and run a different continuation: as a fresh run of that sequence.
  std::vector<int32_t> other(tokens.begin(), tokens.begin() + 25);
  for (int i = 0; i < 10; ++i) other.push_back(static_cast<int32_t>((i * 7 + 3) % V));
  steps.rewind(25);
  const float* cont = steps.forward(other.data() + 25, 10, true);
  infer::Session fresh(model);
  const float* ref = fresh.forward(other.data(), 35, true);
  EXPECT_LT(max_row_relative(cont, ref + 25 * V, 10, V), 1e-5);
  EXPECT_THROW(steps.rewind(36), Error);
  EXPECT_THROW(steps.forward(other.data(), 0), Error);
  const int32_t bad = static_cast<int32_t>(V);
  EXPECT_THROW(steps.forward(&bad, 1), Error);
  std::vector<int32_t> too_long(static_cast<size_t>(model->config.max_seq_len + 1), 1);
  fresh.reset();
  EXPECT_THROW(fresh.forward(too_long.data(), static_cast<int64_t>(too_long.size())), Error);
}

TEST(InferEngine, KeepsTernaryWeightsPackedAndReportsTheModelsParameters) {
  auto model = infer::load_model(shipped().path);
  LoadedModel ref = torch_model(shipped().path);
  int64_t params = 0;
  for (const auto& [name, t] : model_state_dict(ref.model)) params += t.numel();
  EXPECT_EQ(model->parameters(), params);
  const auto counts = model->parameter_counts();
  const StateDict torch_params = model_state_dict(ref.model);
  ASSERT_EQ(counts.size(), torch_params.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    EXPECT_EQ(counts[i].first, torch_params[i].first);
    EXPECT_EQ(counts[i].second, torch_params[i].second.numel());
  }
  int64_t ternary = 0;
  for (const auto& layer : model->layers) {
    for (const infer::Projection* p : {&layer.q, &layer.k, &layer.v, &layer.o, &layer.gate, &layer.up, &layer.down}) {
      ASSERT_TRUE(p->ternary);
      EXPECT_TRUE(p->t.fp16_scales);
      EXPECT_EQ(p->t.group_cols, 32);
      EXPECT_EQ(p->t.codes.size(), static_cast<size_t>(p->t.rows * ((p->t.cols + 31) / 32) * 8));
      ternary += p->t.rows * p->t.cols;
    }
  }
  EXPECT_EQ(ternary, 5 * (64 * 64 * 2 + 32 * 64 * 2 + 172 * 64 * 3));
  // Projections: 2 bits a weight (172 columns pad to 192) plus fp16 scales per 32 columns.
  std::printf("engine weights %lld bytes, libtorch parameters %lld bytes\n", static_cast<long long>(model->weight_bytes()),
              static_cast<long long>(params * 4));
  EXPECT_LT(model->weight_bytes(), params * 4 / 3);
}

TEST(InferEngine, KeepsLevelsProjectionsPackedInFourBits) {
  auto model = infer::load_model(levels().path);
  for (const auto& layer : model->layers) {
    for (const infer::Projection* p : {&layer.q, &layer.k, &layer.v, &layer.o, &layer.gate, &layer.up, &layer.down}) {
      ASSERT_TRUE(p->ternary);
      const int want = (p == &layer.gate || p == &layer.up || p == &layer.down) ? 3 : 2;
      EXPECT_EQ(p->t.max_level, want);
      EXPECT_EQ(p->t.codes.size(), static_cast<size_t>(p->t.rows * ((p->t.cols + 31) / 32) * 16));
    }
  }
  std::printf("engine weights with levels %lld bytes\n", static_cast<long long>(model->weight_bytes()));
  // Float activations keep levels on the dense path (the kernel is int8 only).
  auto dense = infer::load_model(levels_float_activations().path);
  for (const auto& layer : dense->layers) EXPECT_FALSE(layer.gate.ternary);
}

void expect_same_projection(const infer::Projection& a, const infer::Projection& b, const std::string& what) {
  ASSERT_EQ(a.ternary, b.ternary) << what;
  EXPECT_EQ(a.t.max_level, b.t.max_level) << what;
  EXPECT_EQ(a.t.codes, b.t.codes) << what;
  EXPECT_EQ(a.t.scales, b.t.scales) << what;
  EXPECT_EQ(a.t.scales16, b.t.scales16) << what;
  EXPECT_EQ(a.d.w, b.d.w) << what;
  EXPECT_EQ(a.d.w16, b.d.w16) << what;
  EXPECT_EQ(a.bias, b.bias) << what;
}

// A file cut into many small records (here one a tensor; a large model gets
// one per 16 MiB, kStage1MaxRecordBytes) loads into the same weights in the
// engine, and into the same tensors through libtorch. The engine frees each
// inflated record once it has read every tensor in it.
TEST(InferEngine, RecordsOfAnySizeLoadTheSameWeights) {
  test::TempDir dir;
  const std::string cut = dir.file("cut.stage1.pt");
  const Stage1File file = read_stage1_file(levels().path);
  write_stage1_file(cut, file, /*max_record_bytes=*/1);
  const size_t whole_records = ZipReader(levels().path).entries().size();
  const size_t cut_records = ZipReader(cut).entries().size();
  std::printf("records: %zu as written, %zu cut\n", whole_records, cut_records);
  EXPECT_GE(cut_records, whole_records + 5 * 7) << "one record a projection payload at least";

  auto a = infer::load_model(levels().path);
  auto b = infer::load_model(cut);
  ASSERT_EQ(a->layers.size(), b->layers.size());
  for (size_t l = 0; l < a->layers.size(); ++l) {
    const infer::Layer &x = a->layers[l], &y = b->layers[l];
    EXPECT_EQ(x.attn_norm, y.attn_norm);
    EXPECT_EQ(x.ffn_norm, y.ffn_norm);
    const std::string at = "layer " + std::to_string(l);
    expect_same_projection(x.q, y.q, at + " q");
    expect_same_projection(x.k, y.k, at + " k");
    expect_same_projection(x.v, y.v, at + " v");
    expect_same_projection(x.o, y.o, at + " o");
    expect_same_projection(x.gate, y.gate, at + " gate");
    expect_same_projection(x.up, y.up, at + " up");
    expect_same_projection(x.down, y.down, at + " down");
  }
  EXPECT_EQ(a->final_norm, b->final_norm);
  EXPECT_EQ(a->head.w, b->head.w);
  EXPECT_EQ(a->head.w16, b->head.w16);
  EXPECT_EQ(a->embedding.w, b->embedding.w);
  EXPECT_EQ(a->embedding_seedlm.bits, b->embedding_seedlm.bits);

  const StateDict x = decode_stage1(file, levels().path), y = decode_stage1(read_stage1_file(cut), cut);
  ASSERT_EQ(x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(x[i].first, y[i].first);
    EXPECT_TRUE(torch::equal(x[i].second, y[i].second)) << x[i].first;
  }
}

TEST(InferEngine, CorruptFilesAreRefusedNamingTheFileAndTensor) {
  test::TempDir dir;
  const std::string truncated = dir.file("truncated.stage1.pt");
  {
    std::ifstream in(shipped().path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    test::write_text(truncated, bytes.substr(0, bytes.size() / 2));
  }
  try {
    infer::load_model(truncated);
    FAIL() << "a truncated file loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("truncated.stage1.pt"), std::string::npos) << e.what();
  }
  // A packed byte above 242 in one projection.
  Stage1File f = read_stage1_file(shipped().path);
  for (Stage1Tensor& t : f.tensors) {
    if (t.name == "model.layers.2.mlp.up_proj.weight") {
      t.payload = t.payload.clone();
      t.payload.data_ptr<uint8_t>()[7] = 250;
    }
  }
  const std::string bad = dir.file("bad.stage1.pt");
  write_stage1_file(bad, f);
  try {
    infer::load_model(bad);
    FAIL() << "a bad packed byte loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    const std::string what = e.what();
    EXPECT_NE(what.find("bad.stage1.pt"), std::string::npos) << what;
    EXPECT_NE(what.find("model.layers.2.mlp.up_proj.weight"), std::string::npos) << what;
  }
  // A missing tensor and a future format version.
  Stage1File g = read_stage1_file(shipped().path);
  g.tensors.erase(g.tensors.begin() + 3);
  write_stage1_file(dir.file("missing.stage1.pt"), g);
  EXPECT_THROW(infer::load_model(dir.file("missing.stage1.pt")), Error);
  PtValue root = read_pt_file(shipped().path);
  root.set("format_version", PtValue::of_int(99));
  write_pt_file(dir.file("future.stage1.pt"), root);
  try {
    infer::load_model(dir.file("future.stage1.pt"));
    FAIL() << "a future version loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("format_version 99"), std::string::npos) << e.what();
  }
}

TEST(InferEngine, OpenModelChoosesTheEngine) {
  LoadedModel e = open_model(shipped().path, "", torch::kCPU, ModelEngine::kAuto);
  EXPECT_TRUE(e.engine);
  EXPECT_FALSE(e.model);
  EXPECT_EQ(e.checkpoint.format, "stage1");
  EXPECT_EQ(e.tokenizer->vocab_size(), 512);
  EXPECT_THROW(open_model(test::stories_model(), test::stories_tokenizer(), torch::kCPU, ModelEngine::kTernary), Error);
  LoadedModel t = open_model(test::stories_model(), test::stories_tokenizer(), torch::kCPU, ModelEngine::kAuto);
  EXPECT_TRUE(t.model);
  EXPECT_FALSE(t.engine);
  EXPECT_THROW(parse_model_engine("gpu"), Error);
}
