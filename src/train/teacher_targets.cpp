#include "train/teacher_targets.h"

#include <limits>

#include "common/error.h"
#include "train/chunked_head_loss.h"
#include "train/train_forward.h"

namespace seedforge {

torch::Tensor teacher_log_probs(Transformer& teacher, const torch::Tensor& inputs, const TrainOptions& options, bool bf16) {
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = training_logits(teacher, inputs, bf16, false, options.attention_kernel);  // [B, T, V]
  return torch::log_softmax(logits.view({-1, logits.size(-1)}) / options.kd_temperature, -1);
}

TeacherTargets sparsify_targets(const torch::Tensor& full_logp, int64_t k) {
  const int64_t v = full_logp.size(-1);
  if (k <= 0 || k >= v) throw usage_error("bitnet.teacher_top_k must be in [1, ", v - 1, "] (below the vocabulary), got ", k);
  torch::NoGradGuard no_grad;
  auto [top_logp, top_ids] = full_logp.topk(k, -1);  // [N, k], sorted
  TeacherTargets out;
  // Contiguous and rounded as the cache stores them, so that a cached and a
  // fresh window agree bitwise (the loss's reductions follow the strides).
  out.top_ids = top_ids.contiguous();
  out.top_logp = top_logp.to(torch::kFloat16).to(torch::kFloat32).contiguous();
  // The rest's mass from the full distribution, as a log-sum-exp over the
  // others (1 - sum p_top would cancel catastrophically when the top k hold
  // nearly everything).
  const torch::Tensor others = full_logp.scatter(-1, top_ids, -std::numeric_limits<float>::infinity());
  out.rest_logp = others.logsumexp(-1).contiguous();
  return out;
}

TeacherTargets teacher_targets(Transformer& teacher, const torch::Tensor& inputs, const TrainOptions& options, bool bf16) {
  const int64_t n = inputs.numel();
  const int64_t chunk = loss_chunk_tokens(options.loss_chunk_tokens, n, teacher->config().vocab_size);
  if (options.teacher_top_k > 0 && chunk < n) {
    // Sparse targets from one chunk of the teacher's logits at a time
    // (chunked_head_loss.h): the whole micro-batch's never exist at once.
    torch::NoGradGuard no_grad;
    const torch::Tensor hidden = training_hidden(teacher, inputs, bf16, false, options.attention_kernel);
    const torch::Tensor flat = hidden.reshape({-1, hidden.size(-1)});
    std::vector<torch::Tensor> ids, logp, rest;
    for (int64_t s = 0; s < n; s += chunk) {
      const torch::Tensor logits = teacher->head(flat.narrow(0, s, std::min(chunk, n - s))).to(torch::kFloat32);
      const TeacherTargets part =
          sparsify_targets(torch::log_softmax(logits / options.kd_temperature, -1), options.teacher_top_k);
      ids.push_back(part.top_ids);
      logp.push_back(part.top_logp);
      rest.push_back(part.rest_logp);
    }
    TeacherTargets out;
    out.top_ids = torch::cat(ids);
    out.top_logp = torch::cat(logp);
    out.rest_logp = torch::cat(rest);
    return out;
  }
  const torch::Tensor full = teacher_log_probs(teacher, inputs, options, bf16);
  if (options.teacher_top_k == 0) {
    TeacherTargets out;
    out.full_logp = full;
    return out;
  }
  return sparsify_targets(full, options.teacher_top_k);
}

torch::Tensor distillation_kl(const TeacherTargets& targets, const torch::Tensor& student_logp) {
  if (!targets.sparse()) {
    return (targets.full_logp.exp() * (targets.full_logp - student_logp)).sum(-1).mean();
  }
  const torch::Tensor q_top = student_logp.gather(-1, targets.top_ids);  // [N, k]
  const torch::Tensor q_rest =
      student_logp.scatter(-1, targets.top_ids, -std::numeric_limits<float>::infinity()).logsumexp(-1);  // [N]
  const torch::Tensor top = (targets.top_logp.exp() * (targets.top_logp - q_top)).sum(-1);
  // k < V keeps q_rest finite; r underflowing to 0 makes the term 0.
  const torch::Tensor rest = targets.rest_logp.exp() * (targets.rest_logp - q_rest);
  return (top + rest).mean();
}

double TeacherTargetCache::window_bytes(int64_t t, int64_t v, int64_t top_k) {
  if (top_k == 0) return double(t) * double(v) * 4.0;
  const double id_bytes = v > 32768 ? 4.0 : 2.0;
  return double(t) * (double(top_k) * (id_bytes + 2.0) + 4.0);
}

TeacherTargetCache::TeacherTargetCache(Transformer* teacher, int64_t windows, int64_t t, int64_t v,
                                       const TrainOptions& options, bool bf16, bool enabled)
    : teacher_(teacher), t_(t), v_(v), k_(options.teacher_top_k), options_(options), bf16_(bf16) {
  if (teacher == nullptr || !enabled) return;
  if (k_ != 0 && k_ >= v) {
    throw usage_error("bitnet.teacher_top_k must be below the vocabulary size (", v, "), got ", k_,
                      "; 0 keeps the full distribution");
  }
  const double budget = double(options.teacher_cache_mb) * 1024.0 * 1024.0;
  capacity_ = std::min<int64_t>(windows, int64_t(budget / window_bytes(t, v, k_)));
  if (capacity_ <= 0) {
    capacity_ = 0;
    return;
  }
  if (k_ == 0) {
    full_ = torch::empty({capacity_, t, v}, torch::kFloat32);
  } else {
    ids_ = torch::empty({capacity_, t, k_}, v > 32768 ? torch::kInt32 : torch::kInt16);
    logp_ = torch::empty({capacity_, t, k_}, torch::kFloat16);
    rest_ = torch::empty({capacity_, t}, torch::kFloat32);
  }
  have_.assign(static_cast<size_t>(capacity_), false);
}

double TeacherTargetCache::bytes() const {
  double total = 0.0;
  for (const torch::Tensor* s : {&full_, &ids_, &logp_, &rest_}) {
    if (s->defined()) total += double(s->numel()) * double(s->element_size());
  }
  return total;
}

void TeacherTargetCache::store(int64_t window, const TeacherTargets& fresh, int64_t row) {
  // fresh holds B*T tokens; row r's are [r*T, (r+1)*T).
  if (k_ == 0) {
    full_[window].copy_(fresh.full_logp.narrow(0, row * t_, t_));
  } else {
    ids_[window].copy_(fresh.top_ids.narrow(0, row * t_, t_));
    logp_[window].copy_(fresh.top_logp.narrow(0, row * t_, t_));
    rest_[window].copy_(fresh.rest_logp.narrow(0, row * t_, t_));
  }
  have_[size_t(window)] = true;
}

TeacherTargets TeacherTargetCache::load(const torch::Tensor& ids) const {
  const int64_t n = ids.size(0) * t_;
  TeacherTargets out;
  if (k_ == 0) {
    out.full_logp = full_.index_select(0, ids).view({n, v_});
  } else {
    out.top_ids = ids_.index_select(0, ids).view({n, k_}).to(torch::kInt64);
    out.top_logp = logp_.index_select(0, ids).view({n, k_}).to(torch::kFloat32);
    out.rest_logp = rest_.index_select(0, ids).view({n});
  }
  return out;
}

TeacherTargets TeacherTargetCache::targets(const torch::Tensor& ids, const torch::Tensor& windows) {
  if (teacher_ == nullptr) return TeacherTargets();
  const torch::Tensor inputs = windows.narrow(1, 0, t_);
  if (capacity_ == 0) return teacher_targets(*teacher_, inputs, options_, bf16_);
  const int64_t b = ids.size(0);
  const auto id = ids.accessor<int64_t, 1>();
  bool all = true;
  for (int64_t r = 0; r < b; ++r) all = all && id[r] < capacity_ && have_[size_t(id[r])];
  if (all) return load(ids);
  const TeacherTargets fresh = teacher_targets(*teacher_, inputs, options_, bf16_);
  for (int64_t r = 0; r < b; ++r) {
    if (id[r] < capacity_) store(id[r], fresh, r);
  }
  return fresh;
}

}  // namespace seedforge
