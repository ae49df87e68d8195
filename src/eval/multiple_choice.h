// Multiple-choice scoring in the lm-evaluation-harness convention (HellaSwag).
//
// For each task and each ending e: loglik(e) = sum of log P(token | prefix)
// over the tokens of " " + e that follow the context. Accuracy = share of
// tasks whose argmax_e loglik(e) is the label; normalized accuracy = the same
// with loglik(e) / bytes(e), bytes(e) = UTF-8 length of the ending without
// the leading space (lm-eval divides by len(ending), characters; for ASCII
// text, as in HellaSwag, the two agree). Ties go to the first ending.
//
// Tokenization ("whole minus context"): whole = encode(context + " " + ending),
// ctx = encode(context); the scored tokens are whole[len(ctx):], each
// conditioned on [BOS] + everything before it in whole. We do not encode the
// context and the ending separately because llama2.c's tokenizer (and
// SentencePiece's) adds a dummy-prefix space on every encode: encode(" " + e)
// would start with a double space, and encode(e) is right for llama2.c only by
// accident of the dummy prefix (wrong for GPT-2's BPE, which has none). Taking
// the tokens from one encoding of the whole text scores exactly the tokens the
// model sees when it reads that text, for any tokenizer. Should a tokenizer
// merge across the context/ending boundary (ctx not a prefix of whole), the
// continuation starts at the longest common prefix of the two encodings,
// which keeps the scored tokens a suffix of whole; such endings are counted
// (MultipleChoiceResult::boundary_merges). BOS is prepended as the model was
// trained (and as llama.cpp's hellaswag does). A sequence longer than the
// model's window loses context tokens from the left (as lm-eval does).
//
// Two scorers, compared in tests:
//  - the reference, over any LogitsFunction: every (task, ending) sequence is
//    run whole; sequences sorted by length and packed into batches of at most
//    batch_tokens padded tokens.
//  - the fast one, over a Transformer: a task's endings share its context,
//    so the context ([BOS] + context tokens) is run once into the KV cache,
//    the cache rows are copied to the task's endings, and only the endings
//    run on top. Tasks are sorted by context length and grouped; a group's
//    prefill is the shortest context of the group, the rest of each context
//    runs with the endings (right-padded; causal attention makes the padding
//    harmless). On the HellaSwag sample this halves the tokens run (contexts
//    average 73 tokens, endings 35).
//  - the engine's, over the inference engine (infer/session.h): tasks run side
//    by side on single-threaded sessions; within a task each ending keeps the
//    KV cache of the one before up to their common prefix (Session::rewind)
//    and runs only the rest, so a context runs once per task.
// The result does not depend on the batching beyond float rounding.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "eval/hellaswag.h"
#include "infer/model.h"
#include "infer/session.h"
#include "model/transformer.h"
#include "tokenizer/tokenizer.h"

namespace seedforge {

// The model as the scorer sees it: tokens [B, T] int64 -> logits [B, T, V]
// (any float type), position t predicting token t+1. Tests pass a stub.
using LogitsFunction = std::function<torch::Tensor(const torch::Tensor& tokens)>;

// Transformer::forward behind a LogitsFunction.
LogitsFunction transformer_logits(Transformer model);

struct MultipleChoiceOptions {
  // Padded tokens a batch. Modest on purpose: with glibc's default malloc,
  // tensors above its mmap threshold (at most 32 MiB) are mapped, zeroed and
  // unmapped at every use; at 16384 tokens that page-fault work cost as much
  // as the arithmetic for stories260K (perf: half the time in the kernel).
  int64_t batch_tokens = 4096;
  int64_t max_seq_len = 0;        // the model's window (input positions); 0 = unlimited
  torch::Device device = torch::kCPU;
  std::function<void(int64_t done, int64_t total)> progress;  // sequences (task x ending) scored
};

// One (context, ending) pair ready for the model.
struct ScoringRequest {
  std::vector<int32_t> tokens;       // [BOS] + whole (possibly cut on the left)
  int64_t continuation_start = 0;    // index in tokens of the first scored token (>= 1)
  bool boundary_merge = false;       // context tokens were not a prefix of the whole's
  bool truncated = false;            // context tokens dropped to fit max_seq_len
};

// Builds the request for one ending (see the tokenization note above).
// `where` names the task in errors (e.g. "'file' line 7, ending 2").
ScoringRequest make_scoring_request(const Tokenizer& tokenizer, const std::string& context,
                                    const std::string& ending, int64_t max_seq_len, const std::string& where);

struct EndingScore {
  double loglik = 0.0;   // natural log, summed over the ending's tokens
  int64_t tokens = 0;    // tokens scored
  int64_t bytes = 0;     // UTF-8 bytes of the ending (normalization length)
};

struct TaskScore {
  std::vector<EndingScore> endings;
  int32_t label = -1;
  int32_t predicted = -1;       // argmax loglik
  int32_t predicted_norm = -1;  // argmax loglik / bytes
};

struct MultipleChoiceResult {
  int64_t tasks = 0;
  int64_t correct = 0;
  int64_t correct_norm = 0;
  double acc = 0.0;
  double acc_norm = 0.0;
  // Standard error of the mean, sqrt(p (1 - p) / (n - 1)), as lm-eval reports it.
  double acc_stderr = 0.0;
  double acc_norm_stderr = 0.0;
  int64_t sequences = 0;        // (task, ending) pairs scored
  int64_t scored_tokens = 0;    // ending tokens scored over all pairs
  int64_t boundary_merges = 0;  // pairs whose tokenization merged across the boundary
  int64_t truncated = 0;        // pairs cut on the left to fit the window
  double seconds = 0.0;
  std::vector<TaskScore> per_task;  // in input order
};

// The argmax rules on one task's scores (first ending wins a tie).
int32_t argmax_loglik(const std::vector<EndingScore>& endings);
int32_t argmax_loglik_per_byte(const std::vector<EndingScore>& endings);

// Scores every task. `where` names the source file in errors.
// The reference scorer (whole sequences through `logits`).
MultipleChoiceResult score_multiple_choice(const LogitsFunction& logits, const Tokenizer& tokenizer,
                                           const std::vector<MultipleChoiceTask>& tasks,
                                           const MultipleChoiceOptions& options = {}, const std::string& where = "");
// The fast scorer (shared contexts through the KV cache). options.max_seq_len
// 0 means the model's own window.
MultipleChoiceResult score_multiple_choice(Transformer& model, const Tokenizer& tokenizer,
                                           const std::vector<MultipleChoiceTask>& tasks,
                                           const MultipleChoiceOptions& options = {}, const std::string& where = "");

// The engine's scorer: options.max_seq_len 0 means the model's window;
// batch_tokens and device do not apply; session.threads sessions.
MultipleChoiceResult score_multiple_choice(const std::shared_ptr<const infer::Model>& model, const Tokenizer& tokenizer,
                                           const std::vector<MultipleChoiceTask>& tasks,
                                           const MultipleChoiceOptions& options, const std::string& where,
                                           const infer::SessionOptions& session);

}  // namespace seedforge
