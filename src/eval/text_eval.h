// Perplexity and top-1 next-token accuracy over tokenized documents.
//
// Protocol (../shared/data/README.md): every document is [BOS] + tokens, cut
// to the model's max sequence; each position after BOS is scored: the logits
// at position p predict token p+1. Perplexity = exp(mean NLL); top-1 = share of
// scored positions whose argmax equals the next token.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "infer/model.h"
#include "infer/session.h"
#include "model/transformer.h"

namespace seedforge {

// One layer's attention scores and their softmax in an evaluation batch
// stay under this many bytes: a batch of long documents has fewer rows. At
// 16,384 tokens of 512-token documents and 8 heads they took 268 MB each.
constexpr int64_t kEvalScoresBudgetBytes = int64_t(256) << 20;

struct TextEvalOptions {
  // Documents are sorted by length and packed into batches of at most this many
  // (padded) tokens: large enough to keep the matrix products efficient; fewer
  // where the attention scores would pass kEvalScoresBudgetBytes.
  // 0 = text_eval_batch_tokens(the model's vocabulary).
  int64_t batch_tokens = 0;
  // Where the batches go; unset = where the model's parameters are (a model
  // trained on CUDA is evaluated there without the caller saying so).
  std::optional<torch::Device> device;
  // Layer streaming, for a model larger than the device: the model stays
  // where it is (the host); one decoder layer at a time moves to `device`,
  // runs every batch and moves back, then the final norm and the head do
  // (moved, not copied: the model is in use by nothing else meanwhile). The
  // hidden states of all batches wait on the host in the model's dtype:
  // 4 bytes x (padded tokens) x C for an fp32 model. Each batch sees the same
  // operations in the same order as without streaming, so the figures are
  // the same (bit for bit on the CPU, tested).
  bool stream_layers = false;
  // Called after each batch with (documents done, total).
  std::function<void(int64_t, int64_t)> progress;
};

struct TextEvalResult {
  int64_t documents = 0;
  int64_t tokens = 0;        // scored positions
  double nll_sum = 0.0;      // natural log
  int64_t correct = 0;       // argmax hits
  double perplexity = 0.0;
  double top1 = 0.0;
  double seconds = 0.0;
  double tokens_per_second = 0.0;  // scored tokens / wall seconds
};

// The default batch: 16,384 padded tokens, fewer where a batch's fp32 logits
// and their log-softmax (8 bytes a token and vocabulary entry) would pass
// 1 GiB (a 32,000 vocabulary: 4,194 tokens; 151,936: 883).
int64_t text_eval_batch_tokens(int64_t vocab_size);

// Rows of an evaluation batch of documents `len` tokens long: batch_tokens /
// len, and no more than keep one layer's attention scores and their softmax
// (fp32, [rows, n_heads, len - 1, len - 1] each) under kEvalScoresBudgetBytes;
// at least one. The batching and the memory plan both use it.
int64_t eval_batch_rows(int64_t len, int64_t batch_tokens, int64_t n_heads);

TextEvalResult evaluate_documents(Transformer& model, const std::vector<std::vector<int32_t>>& documents,
                                  const TextEvalOptions& options = {});

// The same with the inference engine (infer/session.h): each document runs
// whole through a fresh KV cache, all positions' logits at once; documents run
// side by side on session.threads sessions of one thread each (longest first),
// and the sums are added in document order, so the result does not depend on
// the thread count. NLL in double from the fp32 logits. options.batch_tokens
// and options.device do not apply.
TextEvalResult evaluate_documents(const std::shared_ptr<const infer::Model>& model,
                                  const std::vector<std::vector<int32_t>>& documents, const TextEvalOptions& options,
                                  const infer::SessionOptions& session);

}  // namespace seedforge
