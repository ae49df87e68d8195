#include "eval/text_eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "eval/engine_threads.h"
#include "infer/generate.h"

namespace seedforge {

TextEvalResult evaluate_documents(Transformer& model, const std::vector<std::vector<int32_t>>& documents,
                                  const TextEvalOptions& options) {
  torch::NoGradGuard no_grad;
  model->eval();
  const torch::Device device = options.device ? *options.device : model->device();
  const auto start = std::chrono::steady_clock::now();

  // Longest first: batches of similar length waste little on padding.
  std::vector<size_t> order(documents.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return documents[a].size() > documents[b].size(); });

  TextEvalResult result;
  result.documents = static_cast<int64_t>(documents.size());
  size_t next = 0;
  while (next < order.size()) {
    const int64_t len = static_cast<int64_t>(documents[order[next]].size());
    const int64_t rows = std::max<int64_t>(1, options.batch_tokens / std::max<int64_t>(len, 1));
    const size_t end = std::min(order.size(), next + static_cast<size_t>(rows));
    const int64_t b = static_cast<int64_t>(end - next);
    if (len < 2) {  // nothing to score (BOS only)
      next = end;
      continue;
    }
    // tokens [B, len], padded with 0; mask [B, len-1] marks real targets.
    auto tokens = torch::zeros({b, len}, torch::kInt64);
    auto mask = torch::zeros({b, len - 1}, torch::kBool);
    auto tok = tokens.accessor<int64_t, 2>();
    auto msk = mask.accessor<bool, 2>();
    for (int64_t r = 0; r < b; ++r) {
      const auto& doc = documents[order[next + static_cast<size_t>(r)]];
      for (size_t p = 0; p < doc.size(); ++p) tok[r][static_cast<int64_t>(p)] = doc[p];
      for (size_t p = 0; p + 1 < doc.size(); ++p) msk[r][static_cast<int64_t>(p)] = true;
    }
    tokens = tokens.to(device);
    mask = mask.to(device);
    auto logits = model->forward(tokens.narrow(1, 0, len - 1)).to(torch::kFloat32);  // [B, len-1, V]
    auto targets = tokens.narrow(1, 1, len - 1);                                      // [B, len-1]
    auto logp = torch::log_softmax(logits, -1);
    auto nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1);                   // [B, len-1]
    auto hits = logits.argmax(-1).eq(targets);
    result.nll_sum += nll.masked_select(mask).to(torch::kFloat64).sum().item<double>();
    result.correct += hits.masked_select(mask).sum().item<int64_t>();
    result.tokens += mask.sum().item<int64_t>();
    next = end;
    if (options.progress) options.progress(static_cast<int64_t>(next), result.documents);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (result.tokens > 0) {
    result.perplexity = std::exp(result.nll_sum / double(result.tokens));
    result.top1 = double(result.correct) / double(result.tokens);
  }
  result.tokens_per_second = result.seconds > 0 ? double(result.tokens) / result.seconds : 0.0;
  return result;
}

TextEvalResult evaluate_documents(const std::shared_ptr<const infer::Model>& model,
                                  const std::vector<std::vector<int32_t>>& documents, const TextEvalOptions& options,
                                  const infer::SessionOptions& session) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t vocab = model->config.vocab_size;
  struct Score {
    double nll = 0.0;
    int64_t correct = 0, tokens = 0;
  };
  std::vector<Score> scores(documents.size());
  std::vector<size_t> order(documents.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return documents[a].size() > documents[b].size(); });
  run_sessions(model, session, static_cast<int64_t>(order.size()), options.progress,
               [&](infer::Session& s, int64_t i) {
                 const auto& doc = documents[order[static_cast<size_t>(i)]];
                 Score& score = scores[order[static_cast<size_t>(i)]];
                 if (doc.size() < 2) return;  // nothing to score (BOS only)
                 const int64_t n = static_cast<int64_t>(doc.size()) - 1;
                 s.reset();
                 const float* logits = s.forward(doc.data(), n, /*all_logits=*/true);
                 for (int64_t p = 0; p < n; ++p) {
                   const float* row = logits + p * vocab;
                   const int32_t target = doc[static_cast<size_t>(p + 1)];
                   score.nll += negative_log_likelihood(row, vocab, target);
                   score.correct += infer::argmax(row, vocab) == target ? 1 : 0;
                 }
                 score.tokens = n;
               });
  TextEvalResult result;
  result.documents = static_cast<int64_t>(documents.size());
  for (const Score& s : scores) {
    result.nll_sum += s.nll;
    result.correct += s.correct;
    result.tokens += s.tokens;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (result.tokens > 0) {
    result.perplexity = std::exp(result.nll_sum / double(result.tokens));
    result.top1 = double(result.correct) / double(result.tokens);
  }
  result.tokens_per_second = result.seconds > 0 ? double(result.tokens) / result.seconds : 0.0;
  return result;
}

}  // namespace seedforge
