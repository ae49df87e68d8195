#include "eval/multiple_choice.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/error.h"
#include "eval/engine_threads.h"

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

namespace {

// The requests of every (task, ending), flattened, with the result's
// per-task skeleton; shared by both scorers.
struct Prepared {
  std::vector<ScoringRequest> requests;
  std::vector<std::pair<size_t, size_t>> owner;   // request -> (task, ending)
  std::vector<std::vector<size_t>> task_requests; // task -> its requests
  MultipleChoiceResult result;
};

Prepared prepare(const Tokenizer& tokenizer, const std::vector<MultipleChoiceTask>& tasks, int64_t max_seq_len,
                 const std::string& where) {
  Prepared p;
  p.result.tasks = static_cast<int64_t>(tasks.size());
  p.result.per_task.resize(tasks.size());
  p.task_requests.resize(tasks.size());
  for (size_t t = 0; t < tasks.size(); ++t) {
    const auto& task = tasks[t];
    const std::string w = task_where(where, task, t);
    if (task.endings.empty()) throw input_error(w, ": no endings");
    if (task.label < 0 || task.label >= static_cast<int32_t>(task.endings.size())) {
      throw input_error(w, ": label ", task.label, " out of range: expected 0..", task.endings.size() - 1);
    }
    const std::vector<int32_t> context_tokens = tokenizer.encode(task.context);
    p.result.per_task[t].label = task.label;
    p.result.per_task[t].endings.resize(task.endings.size());
    for (size_t e = 0; e < task.endings.size(); ++e) {
      if (task.endings[e].empty()) throw input_error(w, ": ending ", e, " is empty");
      p.task_requests[t].push_back(p.requests.size());
      p.requests.push_back(build_request(tokenizer, context_tokens, task.context, task.endings[e], max_seq_len,
                                         w + ", ending " + std::to_string(e)));
      p.owner.emplace_back(t, e);
      p.result.per_task[t].endings[e].bytes = static_cast<int64_t>(task.endings[e].size());
      p.result.boundary_merges += p.requests.back().boundary_merge ? 1 : 0;
      p.result.truncated += p.requests.back().truncated ? 1 : 0;
    }
  }
  p.result.sequences = static_cast<int64_t>(p.requests.size());
  return p;
}

// logits [R, L, V] of R rows; positions[i] = r * L + l flat index of a scored
// position, rows[i] = r, targets[i] the token it predicts. Returns the
// per-row sums of log P(target) [R] (float64, CPU). Only the scored
// positions go through log_softmax: contexts are most of the tokens.
torch::Tensor row_logliks(const torch::Tensor& logits, const std::vector<int64_t>& positions,
                          const std::vector<int64_t>& rows, const std::vector<int64_t>& targets, torch::Device device) {
  const auto index = torch::tensor(positions, torch::kInt64).to(device);   // [n]
  const auto rows_of = torch::tensor(rows, torch::kInt64).to(device);      // [n]
  const auto target = torch::tensor(targets, torch::kInt64).to(device);    // [n]
  const auto picked = logits.reshape({-1, logits.size(2)}).index_select(0, index).to(torch::kFloat32);  // [n, V]
  const auto logp = torch::log_softmax(picked, -1).gather(1, target.unsqueeze(1)).squeeze(1).to(torch::kFloat64);
  return torch::zeros({logits.size(0)}, torch::TensorOptions().dtype(torch::kFloat64).device(device))
      .index_add_(0, rows_of, logp)
      .cpu();
}

void record(Prepared& p, size_t request, double loglik) {
  auto& score = p.result.per_task[p.owner[request].first].endings[p.owner[request].second];
  score.loglik = loglik;
  score.tokens = static_cast<int64_t>(p.requests[request].tokens.size()) - p.requests[request].continuation_start;
  p.result.scored_tokens += score.tokens;
}

MultipleChoiceResult finish(Prepared& p, std::chrono::steady_clock::time_point start) {
  MultipleChoiceResult& result = p.result;
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
  return std::move(result);
}

}  // namespace

MultipleChoiceResult score_multiple_choice(const LogitsFunction& logits_fn, const Tokenizer& tokenizer,
                                           const std::vector<MultipleChoiceTask>& tasks,
                                           const MultipleChoiceOptions& options, const std::string& where) {
  if (options.batch_tokens <= 0) throw usage_error("batch tokens must be positive, got ", options.batch_tokens);
  torch::NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  Prepared p = prepare(tokenizer, tasks, options.max_seq_len, where);
  const auto& requests = p.requests;

  // Longest first: batches of similar length waste little on padding.
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].tokens.size() > requests[b].tokens.size(); });

  size_t next = 0;
  while (next < order.size()) {
    // Sequence length L (>= 2: BOS + at least one continuation token); inputs [b, L-1].
    const int64_t len = static_cast<int64_t>(requests[order[next]].tokens.size());
    const int64_t rows = std::max<int64_t>(1, options.batch_tokens / std::max<int64_t>(len - 1, 1));
    const size_t end = std::min(order.size(), next + static_cast<size_t>(rows));
    const int64_t b = static_cast<int64_t>(end - next);
    auto inputs = torch::zeros({b, len - 1}, torch::kInt64);
    auto in = inputs.accessor<int64_t, 2>();
    std::vector<int64_t> positions, position_rows, targets;
    for (int64_t r = 0; r < b; ++r) {
      const auto& request = requests[order[next + static_cast<size_t>(r)]];
      const int64_t n = static_cast<int64_t>(request.tokens.size());
      for (int64_t q = 0; q + 1 < n; ++q) in[r][q] = request.tokens[static_cast<size_t>(q)];
      // Position q predicts token q+1.
      for (int64_t q = request.continuation_start - 1; q < n - 1; ++q) {
        positions.push_back(r * (len - 1) + q);
        position_rows.push_back(r);
        targets.push_back(request.tokens[static_cast<size_t>(q + 1)]);
      }
    }
    const auto logits = logits_fn(inputs.to(options.device));  // [b, L-1, V]
    TORCH_CHECK(logits.dim() == 3 && logits.size(0) == b && logits.size(1) == len - 1,
                "logits function returned shape ", logits.sizes(), " for tokens ", inputs.sizes());
    const auto sums = row_logliks(logits, positions, position_rows, targets, options.device);
    const double* s = sums.data_ptr<double>();
    for (int64_t r = 0; r < b; ++r) record(p, order[next + static_cast<size_t>(r)], s[r]);
    next = end;
    if (options.progress) options.progress(static_cast<int64_t>(next), p.result.sequences);
  }
  return finish(p, start);
}

MultipleChoiceResult score_multiple_choice(Transformer& model, const Tokenizer& tokenizer,
                                           const std::vector<MultipleChoiceTask>& tasks,
                                           const MultipleChoiceOptions& options, const std::string& where) {
  if (options.batch_tokens <= 0) throw usage_error("batch tokens must be positive, got ", options.batch_tokens);
  torch::NoGradGuard no_grad;
  model->eval();
  const auto start = std::chrono::steady_clock::now();
  const int64_t window = model->config().max_seq_len;
  const int64_t max_seq_len = options.max_seq_len > 0 ? std::min(options.max_seq_len, window) : window;
  Prepared p = prepare(tokenizer, tasks, max_seq_len, where);
  const auto& requests = p.requests;
  const auto device = options.device;

  // A task's shared prefix: the tokens before its first scored position's
  // input, common to all its endings (a boundary merge or a left cut can make
  // it shorter than the context).
  std::vector<int64_t> prefix(tasks.size());
  for (size_t t = 0; t < tasks.size(); ++t) {
    const auto& ids = p.task_requests[t];
    int64_t len = std::numeric_limits<int64_t>::max();
    for (size_t r : ids) len = std::min(len, requests[r].continuation_start - 1);
    const auto& first = requests[ids[0]].tokens;
    for (size_t r : ids) {
      int64_t common = 0;
      while (common < len && requests[r].tokens[static_cast<size_t>(common)] == first[static_cast<size_t>(common)]) ++common;
      len = common;
    }
    prefix[t] = len;
  }
  // Longest context first; a group shares the prefill of its shortest prefix.
  std::vector<size_t> order(tasks.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return prefix[a] > prefix[b]; });

  int64_t done = 0;
  size_t next = 0;
  while (next < order.size()) {
    // Grow the group while its endings' unpadded tokens fit the budget. A row
    // (one ending) runs tokens[P .. n-2]: n - 1 - P positions.
    int64_t group_prefix = prefix[order[next]], rows = 0, sum_inputs = 0, longest = 0;
    size_t end = next;
    while (end < order.size()) {
      const size_t t = order[end];
      int64_t new_sum = sum_inputs, new_longest = longest;
      for (size_t r : p.task_requests[t]) {
        const int64_t n1 = static_cast<int64_t>(requests[r].tokens.size()) - 1;
        new_sum += n1;
        new_longest = std::max(new_longest, n1);
      }
      const int64_t new_prefix = std::min(group_prefix, prefix[t]);
      const int64_t new_rows = rows + static_cast<int64_t>(p.task_requests[t].size());
      if (end > next && (new_sum - new_rows * new_prefix > options.batch_tokens ||
                         static_cast<int64_t>(end - next + 1) * new_prefix > options.batch_tokens)) {
        break;
      }
      group_prefix = new_prefix;
      rows = new_rows;
      sum_inputs = new_sum;
      longest = new_longest;
      ++end;
    }
    const int64_t group = static_cast<int64_t>(end - next);
    const int64_t capacity = longest;  // P + the longest row

    // Prefill: [G, P] shared prefixes into a cache with room for the endings.
    KVCache prefilled = model->make_cache(group, capacity);
    if (group_prefix > 0) {
      auto prefill = torch::zeros({group, group_prefix}, torch::kInt64);
      auto pf = prefill.accessor<int64_t, 2>();
      for (int64_t g = 0; g < group; ++g) {
        const auto& tokens = requests[p.task_requests[order[next + static_cast<size_t>(g)]][0]].tokens;
        for (int64_t q = 0; q < group_prefix; ++q) pf[g][q] = tokens[static_cast<size_t>(q)];
      }
      model->forward_cached(prefill.to(device), prefilled);
    }
    // The group's endings, longest first, run in chunks of similar length
    // (padding waste stays small); each chunk copies its tasks' cache rows.
    std::vector<std::pair<int64_t, size_t>> ending_rows;  // (task row in the group, request)
    for (int64_t g = 0; g < group; ++g) {
      for (size_t r : p.task_requests[order[next + static_cast<size_t>(g)]]) ending_rows.emplace_back(g, r);
    }
    std::stable_sort(ending_rows.begin(), ending_rows.end(), [&](const auto& x, const auto& y) {
      return requests[x.second].tokens.size() > requests[y.second].tokens.size();
    });
    size_t first = 0;
    while (first < ending_rows.size()) {
      const int64_t row_len = static_cast<int64_t>(requests[ending_rows[first].second].tokens.size()) - 1 - group_prefix;
      size_t last = first + 1;
      while (last < ending_rows.size() && static_cast<int64_t>(last - first + 1) * row_len <= options.batch_tokens) ++last;
      const int64_t chunk = static_cast<int64_t>(last - first);
      std::vector<int64_t> row_task;
      for (size_t i = first; i < last; ++i) row_task.push_back(ending_rows[i].first);
      const auto expand = torch::tensor(row_task, torch::kInt64).to(device);
      KVCache cache;
      cache.length = prefilled.length;
      for (size_t l = 0; l < prefilled.k.size(); ++l) {
        cache.k.push_back(prefilled.k[l].index_select(0, expand));  // [chunk, Hkv, capacity, D]
        cache.v.push_back(prefilled.v[l].index_select(0, expand));
      }
      // Endings: tokens[P .. n-2] of each row, right-padded, at positions P.. .
      auto inputs = torch::zeros({chunk, row_len}, torch::kInt64);
      auto in = inputs.accessor<int64_t, 2>();
      std::vector<int64_t> positions, position_rows, targets;
      for (int64_t row = 0; row < chunk; ++row) {
        const auto& request = requests[ending_rows[first + static_cast<size_t>(row)].second];
        const int64_t n = static_cast<int64_t>(request.tokens.size());
        for (int64_t q = group_prefix; q + 1 < n; ++q) in[row][q - group_prefix] = request.tokens[static_cast<size_t>(q)];
        for (int64_t q = request.continuation_start - 1; q < n - 1; ++q) {
          positions.push_back(row * row_len + (q - group_prefix));
          position_rows.push_back(row);
          targets.push_back(request.tokens[static_cast<size_t>(q + 1)]);
        }
      }
      const auto logits = model->forward_cached(inputs.to(device), cache);  // [chunk, row_len, V]
      const auto sums = row_logliks(logits, positions, position_rows, targets, device);
      const double* s = sums.data_ptr<double>();
      for (int64_t row = 0; row < chunk; ++row) record(p, ending_rows[first + static_cast<size_t>(row)].second, s[row]);
      first = last;
    }
    done += rows;
    next = end;
    if (options.progress) options.progress(done, p.result.sequences);
  }
  return finish(p, start);
}

MultipleChoiceResult score_multiple_choice(const std::shared_ptr<const infer::Model>& model, const Tokenizer& tokenizer,
                                           const std::vector<MultipleChoiceTask>& tasks,
                                           const MultipleChoiceOptions& options, const std::string& where,
                                           const infer::SessionOptions& session) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t window = model->config.max_seq_len;
  const int64_t max_seq_len = options.max_seq_len > 0 ? std::min(options.max_seq_len, window) : window;
  const int64_t vocab = model->config.vocab_size;
  Prepared p = prepare(tokenizer, tasks, max_seq_len, where);
  const auto& requests = p.requests;
  std::vector<double> logliks(requests.size(), 0.0);
  std::function<void(int64_t, int64_t)> progress;
  if (options.progress) {
    // Progress in sequences, as the other scorers report it.
    progress = [&](int64_t done_tasks, int64_t) {
      int64_t done = 0;
      for (int64_t t = 0; t < done_tasks && t < static_cast<int64_t>(p.task_requests.size()); ++t) {
        done += static_cast<int64_t>(p.task_requests[static_cast<size_t>(t)].size());
      }
      options.progress(done, p.result.sequences);
    };
  }
  run_sessions(model, session, static_cast<int64_t>(tasks.size()), progress, [&](infer::Session& s, int64_t task) {
    std::vector<int32_t> cached;  // the tokens in the session's cache
    s.reset();
    for (size_t id : p.task_requests[static_cast<size_t>(task)]) {
      const ScoringRequest& r = requests[id];
      const int64_t n = static_cast<int64_t>(r.tokens.size());
      if (r.continuation_start >= n) continue;  // nothing to score
      // Reuse the cached prefix, but run at least the input of the first scored position.
      int64_t keep = 0;
      while (keep < static_cast<int64_t>(cached.size()) && keep < n && cached[static_cast<size_t>(keep)] == r.tokens[static_cast<size_t>(keep)]) ++keep;
      keep = std::min(keep, r.continuation_start - 1);
      s.rewind(keep);
      // Inputs keep .. n-2; position q predicts token q + 1.
      const float* logits = s.forward(r.tokens.data() + keep, n - 1 - keep, /*all_logits=*/true);
      double sum = 0.0;
      for (int64_t q = r.continuation_start - 1; q < n - 1; ++q) {
        sum -= negative_log_likelihood(logits + (q - keep) * vocab, vocab, r.tokens[static_cast<size_t>(q + 1)]);
      }
      logliks[id] = sum;
      cached.assign(r.tokens.begin(), r.tokens.end() - 1);
    }
  });
  for (size_t id = 0; id < requests.size(); ++id) record(p, id, logliks[id]);
  return finish(p, start);
}

}  // namespace seedforge
