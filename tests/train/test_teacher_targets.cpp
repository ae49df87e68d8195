// Sparse distillation targets (train/teacher_targets.h) against the full
// distribution on small random cases: the coarsened KL lies between 0 and the
// full KL (data-processing inequality), the gap is bounded by the rest's mass
// times the largest log-ratio in the tail, k = V - 1 leaves the full value,
// and the gradient is finite where the teacher puts (almost) no mass outside its top k.
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "common/error.h"
#include "gtest/gtest.h"
#include "train/memory_estimate.h"
#include "train/teacher_targets.h"
#include "train/train_test_util.h"
#include "train/trainer.h"

using namespace seedforge;

namespace {

// Teacher and student log-probabilities [N, V], double precision so that the
// bounds test the formulas rather than fp32 rounding; `peak` sharpens the teacher.
struct Case {
  torch::Tensor teacher, student;
};
Case random_case(int64_t n, int64_t v, double peak, uint64_t seed) {
  torch::manual_seed(seed);
  const torch::Tensor t = torch::randn({n, v}, torch::kFloat64) * peak;
  const torch::Tensor s = t + torch::randn({n, v}, torch::kFloat64);  // a student near the teacher
  return {torch::log_softmax(t, -1), torch::log_softmax(s, -1)};
}

// Per-token full KL(p || q), [N].
torch::Tensor full_kl(const Case& c) { return (c.teacher.exp() * (c.teacher - c.student)).sum(-1); }

// Sparse targets in double (sparsify_targets rounds the kept log-probabilities
// to fp16; the bound tests the coarsening, so use the exact values here).
TeacherTargets exact_sparse(const torch::Tensor& logp, int64_t k) {
  TeacherTargets t = sparsify_targets(logp, k);
  t.top_logp = logp.gather(-1, t.top_ids);
  return t;
}

}  // namespace

TEST(TeacherTargets, CoarsenedKlLiesBetweenZeroAndTheFullKlWithinTheTailBound) {
  for (const double peak : {1.0, 3.0, 8.0}) {
    for (const int64_t k : {1, 4, 16, 31}) {
      const Case c = random_case(24, 32, peak, 7 + uint64_t(k));
      const TeacherTargets sparse = exact_sparse(c.teacher, k);
      TeacherTargets full;
      full.full_logp = c.teacher;
      const double kl = distillation_kl(full, c.student).item<double>();
      EXPECT_NEAR(kl, full_kl(c).mean().item<double>(), 1e-12);
      // Per token: 0 <= KL_k <= KL, and KL - KL_k <= r * max_tail |log(p_j/r) - log(q_j/q_rest)|.
      for (int64_t i = 0; i < 24; ++i) {
        TeacherTargets one;
        one.top_ids = sparse.top_ids.narrow(0, i, 1);
        one.top_logp = sparse.top_logp.narrow(0, i, 1);
        one.rest_logp = sparse.rest_logp.narrow(0, i, 1);
        const double kl_k = distillation_kl(one, c.student.narrow(0, i, 1)).item<double>();
        const double kl_i = full_kl(c)[i].item<double>();
        EXPECT_GE(kl_k, -1e-12) << "peak " << peak << " k " << k << " token " << i;
        EXPECT_LE(kl_k, kl_i + 1e-12) << "peak " << peak << " k " << k << " token " << i;
        const torch::Tensor in_top = torch::zeros({32}, torch::kBool).index_fill(0, one.top_ids[0], true);
        const torch::Tensor tail = in_top.logical_not();
        const double log_r = one.rest_logp[0].item<double>();
        const double log_q_rest = c.student[i].masked_select(tail).logsumexp(0).item<double>();
        const torch::Tensor ratio = (c.teacher[i].masked_select(tail) - log_r) - (c.student[i].masked_select(tail) - log_q_rest);
        const double bound = std::exp(log_r) * ratio.abs().max().item<double>();
        EXPECT_LE(kl_i - kl_k, bound + 1e-12) << "peak " << peak << " k " << k << " token " << i;
      }
    }
  }
}

TEST(TeacherTargets, NearlyAllMassInTheTopKGivesTheFullKl) {
  // k = V - 1 leaves one token outside; its own term is exact, so KL_k = KL.
  const Case c = random_case(16, 32, 2.0, 3);
  TeacherTargets full;
  full.full_logp = c.teacher;
  EXPECT_NEAR(distillation_kl(exact_sparse(c.teacher, 31), c.student).item<double>(),
              distillation_kl(full, c.student).item<double>(), 1e-12);
  // A sharp teacher puts almost everything in its top 8: the fp32 targets as
  // stored (fp16 log-probabilities) stay within 1e-3 of the full KL, and the
  // rest's mass comes from a log-sum-exp, not 1 - sum (which would be 0 here).
  const Case sharp = random_case(16, 32, 30.0, 5);
  const torch::Tensor t32 = sharp.teacher.to(torch::kFloat32), s32 = sharp.student.to(torch::kFloat32);
  const TeacherTargets stored = sparsify_targets(t32, 8);
  EXPECT_TRUE(torch::isfinite(stored.rest_logp).all().item<bool>());
  EXPECT_LT(stored.rest_logp.max().item<float>(), -5.0f);
  TeacherTargets full32;
  full32.full_logp = t32;
  EXPECT_NEAR(distillation_kl(stored, s32).item<double>(), distillation_kl(full32, s32).item<double>(), 1e-3);
}

TEST(TeacherTargets, GradientIsFiniteAndPointsTheStudentTowardTheTeacher) {
  const Case c = random_case(8, 32, 12.0, 11);
  const torch::Tensor logits = (c.student.to(torch::kFloat32)).clone().requires_grad_(true);
  const TeacherTargets targets = sparsify_targets(c.teacher.to(torch::kFloat32), 8);
  const torch::Tensor kl = distillation_kl(targets, torch::log_softmax(logits, -1));
  kl.backward();
  ASSERT_TRUE(torch::isfinite(logits.grad()).all().item<bool>());
  // A small step against the gradient lowers the term.
  torch::NoGradGuard no_grad;
  const torch::Tensor moved = logits - 0.1 * logits.grad();
  EXPECT_LT(distillation_kl(targets, torch::log_softmax(moved, -1)).item<double>(), kl.item<double>());
}

TEST(TeacherTargets, TopKMustLeaveATokenOutside) {
  const Case c = random_case(2, 8, 1.0, 1);
  EXPECT_THROW(sparsify_targets(c.teacher, 8), Error);
  EXPECT_THROW(sparsify_targets(c.teacher, 0), Error);
}

TEST(TeacherTargets, CacheBytesPerWindow) {
  // 256 tokens x (32 x (2-byte id + 2-byte log-probability) + 4-byte rest) against 256 x 512 x 4.
  EXPECT_EQ(TeacherTargetCache::window_bytes(256, 512, 32), 256.0 * 132.0);
  EXPECT_EQ(TeacherTargetCache::window_bytes(256, 512, 0), 256.0 * 512.0 * 4.0);
  EXPECT_EQ(TeacherTargetCache::window_bytes(256, 50000, 32), 256.0 * (32.0 * 6.0 + 4.0));
}

TEST(TeacherTargets, MatricesStoredInBf16GiveTheSameTargetsUnderBf16) {
  // Under bf16 each product casts its weight to bf16 anyway, so storing the
  // matrices in bf16 changes no operand: the targets are equal bit for bit.
  Transformer teacher = freeze_as_teacher(test::tiny_model(41));
  TrainOptions options;
  options.kd_temperature = 1.0;
  const torch::Tensor tokens = torch::randint(0, 32, {2, 12}, torch::kInt64);
  const torch::Tensor before = teacher_log_probs(teacher, tokens, options, /*bf16=*/true);
  const double fp32_bytes = teacher_bytes(teacher->config(), false);
  store_matrices_in_bf16(teacher);
  EXPECT_TRUE(torch::equal(teacher_log_probs(teacher, tokens, options, true), before));
  double bytes = 0.0;
  for (const auto& p : teacher->parameters()) {
    EXPECT_EQ(p.scalar_type(), p.dim() >= 2 ? torch::kBFloat16 : torch::kFloat32);
    bytes += double(p.numel() * p.element_size());
  }
  // The memory plan's teacher term is what the teacher holds.
  EXPECT_EQ(bytes, teacher_bytes(teacher->config(), true));
  EXPECT_LT(bytes, 0.6 * fp32_bytes);
}
