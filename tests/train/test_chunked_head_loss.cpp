// The head's loss a chunk of tokens at a time against the unchunked formula:
// values and gradients (hidden states, head weight) equal up to the order of
// float sums, with and without a teacher (full and top-k targets), chunks
// that divide N and chunks that do not; the trainer's micro-batch loss and
// the teacher's top-k targets chunked and not.
#include <torch/torch.h>

#include <cmath>

#include "gtest/gtest.h"
#include "train/chunked_head_loss.h"
#include "train/train_test_util.h"
#include "train/trainer.h"

using namespace seedforge;
using test::max_abs_diff;

namespace {

// float32 sums of a few hundred terms reordered: a few ulps of the largest
// value involved, far below any real difference (a wrong chunk boundary or a
// missed chunk changes values by 1e-2 or more here).
bool near(const torch::Tensor& a, const torch::Tensor& e) {
  return max_abs_diff(a, e) <= 2e-6 * std::max(1.0, e.abs().max().item<double>());
}

struct Losses {
  torch::Tensor ce, kd, d_hidden, d_weight;
};

Losses reference(const torch::Tensor& hidden, const torch::Tensor& weight, const torch::Tensor& targets,
                 const TeacherTargets& teacher, double temp) {
  const torch::Tensor h = hidden.detach().requires_grad_(), w = weight.detach().requires_grad_();
  const torch::Tensor logits = h.matmul(w.t());
  const torch::Tensor ce = torch::nn::functional::cross_entropy(logits, targets);
  const torch::Tensor kd = teacher.defined() ? distillation_kl(teacher, torch::log_softmax(logits / temp, -1))
                                             : torch::zeros({});
  (ce + 0.7 * kd).backward();
  return {ce.detach(), kd.detach(), h.grad(), w.grad()};
}

}  // namespace

TEST(ChunkedHeadLoss, EqualsTheWholeBatchLossAndGradients) {
  torch::manual_seed(5);
  const int64_t n = 23, c = 8, v = 40;
  const torch::Tensor hidden = torch::randn({n, c}), weight = torch::randn({v, c}) * 0.5;
  const torch::Tensor targets = torch::randint(0, v, {n}, torch::kInt64);
  const torch::Tensor teacher_logp = torch::log_softmax(torch::randn({n, v}) * 2.0, -1);
  TeacherTargets full;
  full.full_logp = teacher_logp;
  const TeacherTargets sparse = sparsify_targets(teacher_logp, 6);
  for (const TeacherTargets& teacher : {TeacherTargets{}, full, sparse}) {
    for (int64_t chunk : {int64_t(1), int64_t(5), int64_t(23), int64_t(40)}) {
      const Losses e = reference(hidden, weight, targets, teacher, 2.0);
      const torch::Tensor h = hidden.clone().requires_grad_(), w = weight.clone().requires_grad_();
      const HeadLoss got = chunked_head_loss(h, w, targets, teacher, 2.0, chunk);
      (got.ce + 0.7 * got.kd).backward();
      EXPECT_TRUE(near(got.ce, e.ce)) << chunk << ": " << got.ce << " vs " << e.ce;
      EXPECT_TRUE(near(got.kd, e.kd)) << chunk << ": " << got.kd << " vs " << e.kd;
      EXPECT_TRUE(near(h.grad(), e.d_hidden)) << chunk << ": " << max_abs_diff(h.grad(), e.d_hidden);
      EXPECT_TRUE(near(w.grad(), e.d_weight)) << chunk << ": " << max_abs_diff(w.grad(), e.d_weight);
      EXPECT_GT(h.grad().abs().max().item<double>(), 0.0);
    }
  }
  // A frozen head: no gradient for it, the hidden states' unchanged.
  const torch::Tensor h = hidden.clone().requires_grad_();
  chunked_head_loss(h, weight, targets, sparse, 2.0, 4).ce.backward();
  const Losses e = reference(hidden, weight, targets, TeacherTargets{}, 2.0);
  EXPECT_TRUE(near(h.grad(), e.d_hidden));
  EXPECT_FALSE(weight.grad().defined());
}

TEST(ChunkedHeadLoss, ChunkSizeSetting) {
  EXPECT_EQ(loss_chunk_tokens(0, 100, 128256), 100);
  EXPECT_EQ(loss_chunk_tokens(7, 100, 128256), 7);
  EXPECT_EQ(loss_chunk_tokens(200, 100, 512), 100);
  // auto: 128 MiB of fp32 logits a chunk, 2^27 / (4 * 128,256) = 261 tokens
  EXPECT_EQ(loss_chunk_tokens(-1, 4096, 128256), 261);
  EXPECT_EQ(loss_chunk_tokens(-1, 2048, 512), 2048);  // stories260K: never chunked
  EXPECT_EQ(loss_chunk_tokens(-1, 4096, int64_t(1) << 26), 1);
}

TEST(ChunkedHeadLoss, TrainerMicroBatchLossAndTeacherTargetsChunkedAndNot) {
  for (bool tied : {true, false}) {
    ModelConfig config = test::tiny_config();
    config.tie_embeddings = tied;
    torch::manual_seed(9);
    Transformer teacher(config);
    Transformer whole = build_model(config, model_state_dict(teacher), "test"), chunked = build_model(config, model_state_dict(teacher), "test");
    teacher = freeze_as_teacher(teacher);
    const torch::Tensor windows = torch::randint(0, config.vocab_size, {3, 10}, torch::kInt64);
    TrainOptions options;
    options.kd_weight = 0.5;
    options.teacher_top_k = 5;
    options.loss_chunk_tokens = 0;
    const TeacherTargets t0 = teacher_targets(teacher, windows.narrow(1, 0, 9), options, false);
    const MicroBatchLoss a = micro_batch_loss(whole, t0, windows, options, false, false);
    a.loss.backward();
    options.loss_chunk_tokens = 4;  // 27 tokens: six chunks of 4 and one of 3
    const TeacherTargets t1 = teacher_targets(teacher, windows.narrow(1, 0, 9), options, false);
    EXPECT_TRUE(torch::equal(t1.top_ids, t0.top_ids));
    // Stored rounded to fp16: a last-bit difference of the fp32 value can
    // move the rounding by one fp16 ulp (2^-10 relative), no more.
    EXPECT_LE(max_abs_diff(t1.top_logp, t0.top_logp), std::ldexp(1.0, -10) * t0.top_logp.abs().max().item<double>());
    EXPECT_TRUE(near(t1.rest_logp, t0.rest_logp));
    // The same targets for both, so that the loss compares the head alone.
    const MicroBatchLoss b = micro_batch_loss(chunked, t0, windows, options, false, false);
    b.loss.backward();
    EXPECT_TRUE(near(b.loss, a.loss)) << b.loss << " vs " << a.loss;
    EXPECT_TRUE(near(b.kd, a.kd));
    const auto pa = whole->named_parameters(), pb = chunked->named_parameters();
    for (const auto& item : pa) {
      ASSERT_TRUE(item.value().grad().defined()) << item.key();
      EXPECT_TRUE(near(pb[item.key()].grad(), item.value().grad())) << item.key();
    }
  }
}
