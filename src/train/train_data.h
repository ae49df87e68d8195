// Training data for BitNet fine-tuning: documents tokenized with BOS first,
// concatenated into one stream and cut into windows of seq_len + 1 tokens
// (inputs are the first seq_len, targets the last seq_len). Torch-free.
//
//   stream  = [BOS] doc0 [BOS] doc1 ...          (tokens of every training document)
//   window i = stream[i * T, i * T + T + 1)      T = seq_len, i < (|stream| - 1) / T
//
// Windows overlap by one token, so every stream position except the first is a
// target exactly once per epoch. The tail that does not fill a window is dropped.
// Each epoch visits the windows in a fresh order: a Fisher-Yates permutation
// drawn from (seed, epoch), so the order is a pure function of the position
// and a resumed run sees the same batches as an uninterrupted one.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "train/train_options.h"

namespace seedforge {

struct TrainData {
  int64_t seq_len = 0;
  std::vector<int32_t> stream;  // packed training tokens
  int64_t windows = 0;          // (|stream| - 1) / seq_len
  int64_t train_documents = 0;
  // Validation documents, [BOS] + tokens cut to the model's max_seq_len, the
  // protocol of evaluate_documents(). Empty = no validation.
  std::vector<std::vector<int32_t>> valid_documents;
  std::string valid_source;  // where they came from, for logs ("" = none)
  // What the token cache did (load_train_data): "read <file>", "wrote <file>",
  // "token cache not written (...)" or "" (off).
  std::string token_cache;
};

// Validation documents: the `valid_documents` given (when non-empty), else the
// last round(valid_fraction * n) training documents, held out from training.
// Throws input_error when the training text gives fewer than seq_len + 1 tokens,
// usage_error when seq_len exceeds max_seq_len or the held-out split leaves no
// training document.
TrainData make_train_data(const std::vector<std::string>& train_documents, const std::string& train_where,
                          const std::vector<std::string>& valid_documents, const std::string& valid_where,
                          const Tokenizer& tokenizer, const TrainOptions& options, int64_t max_seq_len);

// The same from documents already tokenized as [BOS] + encode(doc), uncut
// (the held-out and the validation documents are cut here).
TrainData make_train_data(const std::vector<std::vector<int32_t>>& train_tokens, const std::string& train_where,
                          const std::vector<std::vector<int32_t>>& valid_tokens, const std::string& valid_where,
                          const TrainOptions& options, int64_t max_seq_len);

// The same from files: the documents of every train file in order, as if the
// files were one (read_documents(): blank-line separated text or JSONL with a
// "text" field), tokenized through the token cache in `token_cache_dir`
// (train/token_cache.h; "" = no cache). valid_path "" = no separate validation file.
TrainData load_train_data(const std::vector<std::string>& train_files, const std::string& valid_path,
                          const Tokenizer& tokenizer, const TrainOptions& options, int64_t max_seq_len,
                          const std::string& token_cache_dir = "");

// "a.txt", "a.txt + b.txt", or "a.txt + 4 more files": the files for messages.
std::string describe_files(const std::vector<std::string>& files);

// Which window sits at a global sample position (micro-batch index * batch_size + row).
class WindowSampler {
 public:
  WindowSampler(int64_t windows, uint64_t seed);
  int64_t window_at(int64_t position);
  int64_t epoch_of(int64_t position) const { return position / windows_; }

 private:
  int64_t windows_;
  uint64_t seed_;
  int64_t epoch_ = -1;  // epoch whose permutation is in order_
  std::vector<int64_t> order_;
};

// Optimizer steps of a run: max_steps when set, else enough steps to visit
// every window `epochs` times (the last step may start the next epoch); 0 when
// both are 0 (no fine-tuning: plain ternary rounding).
int64_t total_steps(const TrainOptions& options, int64_t windows);

}  // namespace seedforge
