#include "eval/multiple_choice.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "common/error.h"

namespace seedforge {

namespace {

// The request for one ending given the context's own tokens (computed once a task).
ScoringRequest build_request(const Tokenizer& tokenizer, const std::vector<int32_t>& context_tokens,
                             const std::string& context, const std::string& ending, int64_t max_seq_len,
                             const std::string& where) {
  const std::vector<int32_t> whole = tokenizer.encode(context + " " + ending);
  size_t common = 0;
  while (common < context_tokens.size() && common < whole.size() && context_tokens[common] == whole[common]) ++common;
  if (common == whole.size()) throw input_error(where, ": the ending adds no tokens to the context");

  ScoringRequest request;
  request.boundary_merge = common < context_tokens.size();
  request.tokens.reserve(whole.size() + 1);
  request.tokens.push_back(tokenizer.bos_id());
  request.tokens.insert(request.tokens.end(), whole.begin(), whole.end());
  request.continuation_start = 1 + static_cast<int64_t>(common);

  // The model reads tokens[0 .. n-2] (n - 1 positions); cut context from the left to fit.
  const int64_t inputs = static_cast<int64_t>(request.tokens.size()) - 1;
  if (max_seq_len > 0 && inputs > max_seq_len) {
    const int64_t drop = inputs - max_seq_len;
    if (request.continuation_start - drop < 1) {
      throw input_error(where, ": the ending's ", static_cast<int64_t>(whole.size() - common),
                        " tokens do not fit the model's window of ", max_seq_len, " positions");
    }
    request.tokens.erase(request.tokens.begin(), request.tokens.begin() + drop);
    request.continuation_start -= drop;
    request.truncated = true;
  }
  return request;
}

std::string task_where(const std::string& where, const MultipleChoiceTask& task, size_t index) {
  std::string w = where.empty() ? "task " + std::to_string(index + 1) : where;
  if (task.line > 0) w += " line " + std::to_string(task.line);
  return w;
}

}  // namespace

LogitsFunction transformer_logits(Transformer model) {
  model->eval();
  return [model](const torch::Tensor& tokens) mutable { return model->forward(tokens); };
}

ScoringRequest make_scoring_request(const Tokenizer& tokenizer, const std::string& context,
                                    const std::string& ending, int64_t max_seq_len, const std::string& where) {
  return build_request(tokenizer, tokenizer.encode(context), context, ending, max_seq_len, where);
}

int32_t argmax_loglik(const std::vector<EndingScore>& endings) {
  int32_t best = -1;
  for (size_t i = 0; i < endings.size(); ++i) {
    if (best < 0 || endings[i].loglik > endings[static_cast<size_t>(best)].loglik) best = static_cast<int32_t>(i);
  }
  return best;
}

int32_t argmax_loglik_per_byte(const std::vector<EndingScore>& endings) {
  int32_t best = -1;
  double best_value = 0.0;
  for (size_t i = 0; i < endings.size(); ++i) {
    const double value = endings[i].loglik / double(std::max<int64_t>(endings[i].bytes, 1));
    if (best < 0 || value > best_value) {
      best = static_cast<int32_t>(i);
      best_value = value;
    }
  }
  return best;
}

MultipleChoiceResult score_multiple_choice(const LogitsFunction& logits_fn, const Tokenizer& tokenizer,
                                           const std::vector<MultipleChoiceTask>& tasks,
                                           const MultipleChoiceOptions& options, const std::string& where) {
  if (options.batch_tokens <= 0) throw usage_error("batch tokens must be positive, got ", options.batch_tokens);
  torch::NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();

  // One request per (task, ending), flattened; owner[i] = (task, ending).
  std::vector<ScoringRequest> requests;
  std::vector<std::pair<size_t, size_t>> owner;
  MultipleChoiceResult result;
  result.tasks = static_cast<int64_t>(tasks.size());
  result.per_task.resize(tasks.size());
  for (size_t t = 0; t < tasks.size(); ++t) {
    const auto& task = tasks[t];
    const std::string w = task_where(where, task, t);
    if (task.endings.empty()) throw input_error(w, ": no endings");
    if (task.label < 0 || task.label >= static_cast<int32_t>(task.endings.size())) {
      throw input_error(w, ": label ", task.label, " out of range: expected 0..", task.endings.size() - 1);
    }
    const std::vector<int32_t> context_tokens = tokenizer.encode(task.context);
    result.per_task[t].label = task.label;
    result.per_task[t].endings.resize(task.endings.size());
    for (size_t e = 0; e < task.endings.size(); ++e) {
      if (task.endings[e].empty()) throw input_error(w, ": ending ", e, " is empty");
      requests.push_back(build_request(tokenizer, context_tokens, task.context, task.endings[e], options.max_seq_len,
                                       w + ", ending " + std::to_string(e)));
      owner.emplace_back(t, e);
      result.per_task[t].endings[e].bytes = static_cast<int64_t>(task.endings[e].size());
      result.boundary_merges += requests.back().boundary_merge ? 1 : 0;
      result.truncated += requests.back().truncated ? 1 : 0;
    }
  }
  result.sequences = static_cast<int64_t>(requests.size());

  // Longest first: batches of similar length waste little on padding.
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].tokens.size() > requests[b].tokens.size(); });

  size_t next = 0;
  while (next < order.size()) {
    // Sequence length L (>= 2: BOS + at least one continuation token); inputs/targets [b, L-1].
    const int64_t len = static_cast<int64_t>(requests[order[next]].tokens.size());
    const int64_t rows = std::max<int64_t>(1, options.batch_tokens / std::max<int64_t>(len - 1, 1));
    const size_t end = std::min(order.size(), next + static_cast<size_t>(rows));
    const int64_t b = static_cast<int64_t>(end - next);
    auto tokens = torch::zeros({b, len}, torch::kInt64);
    auto tok = tokens.accessor<int64_t, 2>();
    // Flat indices r * (L-1) + p of the scored positions p (predicting token p+1), and their rows.
    std::vector<int64_t> positions, position_rows;
    for (int64_t r = 0; r < b; ++r) {
      const auto& request = requests[order[next + static_cast<size_t>(r)]];
      const int64_t n = static_cast<int64_t>(request.tokens.size());
      for (int64_t p = 0; p < n; ++p) tok[r][p] = request.tokens[static_cast<size_t>(p)];
      for (int64_t p = request.continuation_start - 1; p < n - 1; ++p) {
        positions.push_back(r * (len - 1) + p);
        position_rows.push_back(r);
      }
    }
    tokens = tokens.to(options.device);
    const auto inputs = tokens.narrow(1, 0, len - 1);
    const auto targets = tokens.narrow(1, 1, len - 1).reshape({-1});                     // [b*(L-1)]
    const auto logits = logits_fn(inputs);                                                // [b, L-1, V]
    TORCH_CHECK(logits.dim() == 3 && logits.size(0) == b && logits.size(1) == len - 1,
                "logits function returned shape ", logits.sizes(), " for tokens ", inputs.sizes());
    const auto index = torch::tensor(positions, torch::kInt64).to(options.device);      // [n]
    const auto rows_of = torch::tensor(position_rows, torch::kInt64).to(options.device);  // [n]
    // Only the scored positions go through log_softmax: contexts are most of the tokens.
    const auto picked = logits.reshape({-1, logits.size(2)}).index_select(0, index).to(torch::kFloat32);  // [n, V]
    const auto logp = torch::log_softmax(picked, -1)
                          .gather(1, targets.index_select(0, index).unsqueeze(1))
                          .squeeze(1)
                          .to(torch::kFloat64);                                           // [n]
    const auto sums = torch::zeros({b}, torch::TensorOptions().dtype(torch::kFloat64).device(options.device))
                          .index_add_(0, rows_of, logp)
                          .cpu();
    const double* s = sums.data_ptr<double>();
    for (int64_t r = 0; r < b; ++r) {
      const size_t i = order[next + static_cast<size_t>(r)];
      auto& score = result.per_task[owner[i].first].endings[owner[i].second];
      score.loglik = s[r];
      score.tokens = static_cast<int64_t>(requests[i].tokens.size()) - requests[i].continuation_start;
      result.scored_tokens += score.tokens;
    }
    next = end;
    if (options.progress) options.progress(static_cast<int64_t>(next), result.sequences);
  }

  for (auto& task : result.per_task) {
    task.predicted = argmax_loglik(task.endings);
    task.predicted_norm = argmax_loglik_per_byte(task.endings);
    result.correct += task.predicted == task.label ? 1 : 0;
    result.correct_norm += task.predicted_norm == task.label ? 1 : 0;
  }
  if (result.tasks > 0) {
    const double n = double(result.tasks);
    result.acc = double(result.correct) / n;
    result.acc_norm = double(result.correct_norm) / n;
    if (result.tasks > 1) {
      result.acc_stderr = std::sqrt(result.acc * (1.0 - result.acc) / (n - 1.0));
      result.acc_norm_stderr = std::sqrt(result.acc_norm * (1.0 - result.acc_norm) / (n - 1.0));
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace seedforge
