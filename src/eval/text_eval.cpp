#include "eval/text_eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "eval/engine_threads.h"
#include "infer/generate.h"

namespace seedforge {

namespace {

// One batch of documents of similar length: tokens [B, len] padded with 0 and
// mask [B, len-1] marking the positions whose next token is real.
struct EvalBatch {
  torch::Tensor tokens, mask;
  int64_t documents_done = 0;  // documents up to and including this batch
};

// Longest first: batches of similar length waste little on padding, each of
// eval_batch_rows rows.
std::vector<EvalBatch> make_batches(const std::vector<std::vector<int32_t>>& documents, int64_t batch_tokens,
                                    int64_t n_heads) {
  std::vector<size_t> order(documents.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return documents[a].size() > documents[b].size(); });
  std::vector<EvalBatch> batches;
  size_t next = 0;
  while (next < order.size()) {
    const int64_t len = static_cast<int64_t>(documents[order[next]].size());
    const int64_t rows = eval_batch_rows(len, batch_tokens, n_heads);
    const size_t end = std::min(order.size(), next + static_cast<size_t>(rows));
    const int64_t b = static_cast<int64_t>(end - next);
    if (len < 2) break;  // longest first: every document left is BOS only, nothing to score
    EvalBatch batch;
    batch.tokens = torch::zeros({b, len}, torch::kInt64);
    batch.mask = torch::zeros({b, len - 1}, torch::kBool);
    auto tok = batch.tokens.accessor<int64_t, 2>();
    auto msk = batch.mask.accessor<bool, 2>();
    for (int64_t r = 0; r < b; ++r) {
      const auto& doc = documents[order[next + static_cast<size_t>(r)]];
      for (size_t p = 0; p < doc.size(); ++p) tok[r][static_cast<int64_t>(p)] = doc[p];
      for (size_t p = 0; p + 1 < doc.size(); ++p) msk[r][static_cast<int64_t>(p)] = true;
    }
    next = end;
    batch.documents_done = static_cast<int64_t>(next);
    batches.push_back(std::move(batch));
  }
  return batches;
}

// Adds one batch's scores: logits [B, len-1, V] (any dtype) on the device.
void score_batch(const torch::Tensor& logits_any, const EvalBatch& batch, torch::Device device, TextEvalResult& result) {
  const torch::Tensor logits = logits_any.to(torch::kFloat32);
  const int64_t len = batch.tokens.size(1);
  const torch::Tensor tokens = batch.tokens.to(device);
  const torch::Tensor mask = batch.mask.to(device);
  const torch::Tensor targets = tokens.narrow(1, 1, len - 1);                      // [B, len-1]
  const torch::Tensor logp = torch::log_softmax(logits, -1);
  const torch::Tensor nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1);  // [B, len-1]
  const torch::Tensor hits = logits.argmax(-1).eq(targets);
  result.nll_sum += nll.masked_select(mask).to(torch::kFloat64).sum().item<double>();
  result.correct += hits.masked_select(mask).sum().item<int64_t>();
  result.tokens += mask.sum().item<int64_t>();
}

// The inputs of every batch: tokens [B, len-1].
torch::Tensor batch_inputs(const EvalBatch& batch) { return batch.tokens.narrow(1, 0, batch.tokens.size(1) - 1); }

}  // namespace

int64_t eval_batch_rows(int64_t len, int64_t batch_tokens, int64_t n_heads) {
  const int64_t positions = std::max<int64_t>(len - 1, 1);
  return std::max<int64_t>(1, std::min(batch_tokens / std::max<int64_t>(len, 1),
                                       kEvalScoresBudgetBytes / (8 * std::max<int64_t>(n_heads, 1) * positions * positions)));
}

int64_t text_eval_batch_tokens(int64_t vocab_size) {
  const int64_t logits_budget = int64_t(1) << 30;  // bytes
  return std::max<int64_t>(1, std::min<int64_t>(16384, logits_budget / (8 * std::max<int64_t>(vocab_size, 1))));
}

TextEvalResult evaluate_documents(Transformer& model, const std::vector<std::vector<int32_t>>& documents,
                                  const TextEvalOptions& options) {
  torch::NoGradGuard no_grad;
  model->eval();
  const torch::Device device = options.device ? *options.device : model->device();
  const auto start = std::chrono::steady_clock::now();
  const int64_t batch_tokens =
      options.batch_tokens > 0 ? options.batch_tokens : text_eval_batch_tokens(model->config().vocab_size);
  const std::vector<EvalBatch> batches = make_batches(documents, batch_tokens, model->config().n_heads);

  TextEvalResult result;
  result.documents = static_cast<int64_t>(documents.size());
  if (!options.stream_layers) {
    for (const EvalBatch& batch : batches) {
      score_batch(model->forward(batch_inputs(batch).to(device)), batch, device, result);
      if (options.progress) options.progress(batch.documents_done, result.documents);
    }
  } else {
    // Layer-outer: every batch through layer l before layer l+1, so each
    // layer crosses to the device once.
    const torch::Device home = model->device();
    std::vector<torch::Tensor> hidden;  // per batch [B, len-1, C], on the host
    for (const EvalBatch& batch : batches) hidden.push_back(model->model->embed_tokens->forward(batch_inputs(batch).to(home)));
    for (int64_t l = 0; l < model->config().n_layers; ++l) {
      torch::nn::Module& layer = *model->model->layers[static_cast<size_t>(l)];
      layer.to(device);
      for (torch::Tensor& h : hidden) h = model->layer_forward(l, h.to(device)).to(home);
      layer.to(home);
    }
    // The final norm and the head (the embedding when tied) on the device.
    model->model->norm->to(device);
    torch::nn::Module& head = model->config().tie_embeddings ? static_cast<torch::nn::Module&>(*model->model->embed_tokens)
                                                             : static_cast<torch::nn::Module&>(*model->lm_head);
    head.to(device);
    for (size_t i = 0; i < batches.size(); ++i) {
      score_batch(model->head(model->model->norm->forward(hidden[i].to(device))), batches[i], device, result);
      hidden[i] = torch::Tensor();
      if (options.progress) options.progress(batches[i].documents_done, result.documents);
    }
    model->model->norm->to(home);
    head.to(home);
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
