// What the distillation term compares the student with, and where those
// targets are kept between epochs.
//
// Full targets: the teacher's log-probabilities, [N, V] fp32 (N = tokens).
// Sparse targets (bitnet.teacher_top_k = k, 0 < k < V): per token the k most
// likely ids and their log-probabilities (rounded to fp16, as stored), plus
// log r, r = the teacher's probability mass outside those k (fp32, computed
// from the full distribution before rounding). The distillation term is then
// the KL divergence between the two distributions coarsened to k + 1 outcomes
// (the k ids, "any other token"):
//   KL_k = sum_{i in top k} p_i (log p_i - log q_i) + r (log r - log q_rest),
//   q_rest = the student's mass outside the teacher's top k.
// By the data-processing inequality 0 <= KL_k <= KL(p || q); the gap is
// r * KL(p_tail / r || q_tail / q_rest), the tail's shape, which at most
// costs r times the largest |log (p_j / r) - log (q_j / q_rest)| over the
// tail (tests/train/test_teacher_targets.cpp checks both bounds).
// Per token this stores k * 4 + 4 bytes (k = 32: 132) instead of 4 * V
// (V = 512: 2,048), so the targets of a whole corpus stay in memory and the
// teacher runs once per window instead of once per epoch.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/transformer.h"
#include "train/train_options.h"

namespace seedforge {

struct TeacherTargets {
  torch::Tensor full_logp;  // [N, V] fp32, or undefined for sparse targets
  torch::Tensor top_ids;    // [N, k] int64
  torch::Tensor top_logp;   // [N, k] fp32 (values exactly representable in fp16)
  torch::Tensor rest_logp;  // [N] fp32: log of the mass outside top_ids
  bool defined() const { return full_logp.defined() || top_ids.defined(); }
  bool sparse() const { return top_ids.defined(); }
};

// log_softmax(teacher(inputs) / kd_temperature): inputs [B, T] -> [B*T, V] fp32, no autograd.
torch::Tensor teacher_log_probs(Transformer& teacher, const torch::Tensor& inputs, const TrainOptions& options, bool bf16);

// Full log-probabilities [N, V] -> sparse targets of the k most likely ids
// (0 < k < V). Ties are broken by torch::topk; deterministic on one machine.
TeacherTargets sparsify_targets(const torch::Tensor& full_logp, int64_t k);

// The teacher's targets for inputs [B, T]: full when options.teacher_top_k is 0, else sparse.
TeacherTargets teacher_targets(Transformer& teacher, const torch::Tensor& inputs, const TrainOptions& options, bool bf16);

// Mean over tokens of KL(teacher || student), full or coarsened (see the top
// of this file); student_logp [N, V] (log-probabilities at the same
// temperature), differentiable. Not yet multiplied by T^2.
torch::Tensor distillation_kl(const TeacherTargets& targets, const torch::Tensor& student_logp);

// The targets of every training window, kept in host memory after their first
// computation, as many windows as fit options.teacher_cache_mb (windows
// 0 .. capacity-1); the teacher runs again for the others every time. A cached
// window's targets are bitwise what the teacher gave when they were stored
// (fresh sparse targets are rounded the way they are stored). The teacher's
// log-probabilities of a window move in the last bits with its row in the
// batch (up to 7.6e-6 measured on stories260K), so a cached and an uncached
// run agree to fp32 rounding, not always bitwise.
class TeacherTargetCache {
 public:
  // t: tokens per window, v: vocabulary; enabled = false never caches.
  TeacherTargetCache(Transformer* teacher, int64_t windows, int64_t t, int64_t v, const TrainOptions& options, bool bf16,
                     bool enabled);
  bool caching() const { return capacity_ > 0; }
  int64_t capacity() const { return capacity_; }
  double bytes() const;
  // Bytes one window's targets take in the cache.
  static double window_bytes(int64_t t, int64_t v, int64_t top_k);

  // ids: window numbers [B] (CPU, int64); windows [B, T+1] on the model's
  // device -> the targets of the B*T input tokens (undefined without a teacher).
  TeacherTargets targets(const torch::Tensor& ids, const torch::Tensor& windows);

 private:
  void store(int64_t window, const TeacherTargets& fresh, int64_t row);
  TeacherTargets load(const torch::Tensor& ids) const;

  Transformer* teacher_;
  int64_t t_, v_, k_;
  const TrainOptions& options_;
  bool bf16_;
  int64_t capacity_ = 0;
  torch::Tensor full_;  // [capacity, T, V] fp32 (full targets)
  torch::Tensor ids_;   // [capacity, T, k] int16 (or int32 when V > 32768) (sparse)
  torch::Tensor logp_;  // [capacity, T, k] fp16 (sparse)
  torch::Tensor rest_;  // [capacity, T] fp32 (sparse)
  std::vector<bool> have_;
};

}  // namespace seedforge
