#include "train/train_data.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "common/error.h"
#include "eval/documents.h"
#include "train/token_cache.h"

namespace seedforge {

TrainData make_train_data(const std::vector<std::string>& train_documents, const std::string& train_where,
                          const std::vector<std::string>& valid_documents, const std::string& valid_where,
                          const Tokenizer& tokenizer, const TrainOptions& options, int64_t max_seq_len) {
  return make_train_data(tokenize_documents(train_documents, tokenizer, 0), train_where,
                         tokenize_documents(valid_documents, tokenizer, max_seq_len), valid_where, options, max_seq_len);
}

TrainData make_train_data(const std::vector<std::vector<int32_t>>& train_tokens, const std::string& train_where,
                          const std::vector<std::vector<int32_t>>& valid_tokens, const std::string& valid_where,
                          const TrainOptions& options, int64_t max_seq_len) {
  if (options.seq_len > max_seq_len) {
    throw usage_error("bitnet.seq_len ", options.seq_len, " exceeds the model's max_seq_len ", max_seq_len);
  }
  if (train_tokens.empty()) throw input_error(train_where, ": no training documents");
  TrainData data;
  data.seq_len = options.seq_len;

  size_t n_train = train_tokens.size();
  if (!valid_tokens.empty()) {
    data.valid_source = valid_where;
    data.valid_documents = valid_tokens;
  } else if (options.valid_fraction > 0.0) {
    const size_t n_valid = std::max<size_t>(1, size_t(std::llround(options.valid_fraction * double(n_train))));
    if (n_valid >= n_train) {
      throw usage_error("bitnet.valid_fraction ", options.valid_fraction, " holds out all ", n_train,
                        " documents of ", train_where, ": nothing left to train on");
    }
    n_train -= n_valid;
    data.valid_source = concat("the last ", n_valid, " documents of ", train_where);
    for (size_t i = n_train; i < train_tokens.size(); ++i) {
      const auto& doc = train_tokens[i];
      // The evaluation protocol cuts a document to the model's context (a prefix).
      data.valid_documents.emplace_back(doc.begin(), doc.begin() + std::min<std::ptrdiff_t>(
                                                                      static_cast<std::ptrdiff_t>(doc.size()), max_seq_len));
    }
  }
  for (size_t i = 0; i < n_train; ++i) data.stream.insert(data.stream.end(), train_tokens[i].begin(), train_tokens[i].end());
  data.train_documents = static_cast<int64_t>(n_train);
  const int64_t n = static_cast<int64_t>(data.stream.size());
  if (n < options.seq_len + 1) {
    throw input_error(train_where, ": ", n, " tokens in ", n_train, " training documents, fewer than one window of ",
                      "bitnet.seq_len + 1 = ", options.seq_len + 1, " tokens: give a longer text or lower bitnet.seq_len");
  }
  data.windows = (n - 1) / options.seq_len;
  return data;
}

std::string describe_files(const std::vector<std::string>& files) {
  if (files.empty()) return "no file";
  if (files.size() == 1) return files[0];
  if (files.size() == 2) return files[0] + " + " + files[1];
  return concat(files[0], " + ", files.size() - 1, " more files");
}

TrainData load_train_data(const std::vector<std::string>& train_files, const std::string& valid_path,
                          const Tokenizer& tokenizer, const TrainOptions& options, int64_t max_seq_len,
                          const std::string& token_cache_dir) {
  std::vector<std::string> train;
  for (const std::string& file : train_files) {
    std::vector<std::string> docs = read_documents(file);
    train.insert(train.end(), std::make_move_iterator(docs.begin()), std::make_move_iterator(docs.end()));
  }
  const std::string where = describe_files(train_files);
  TokenCacheUse cache;
  std::string cache_warning;
  const TokenizedDocuments train_tokens =
      tokenize_cached(train, tokenizer, token_cache_dir, &cache, [&](const std::string& w) { cache_warning = w; });
  std::vector<std::vector<int32_t>> valid;
  if (!valid_path.empty()) valid = tokenize_documents(read_documents(valid_path), tokenizer, max_seq_len);
  TrainData data = make_train_data(train_tokens, where, valid, valid_path, options, max_seq_len);
  if (!cache.file.empty()) data.token_cache = (cache.hit ? "read " : "wrote ") + cache.file;
  if (!cache_warning.empty()) data.token_cache = cache_warning;
  return data;
}

WindowSampler::WindowSampler(int64_t windows, uint64_t seed) : windows_(windows), seed_(seed) {
  if (windows <= 0) throw runtime_error("WindowSampler: no windows to sample");
}

int64_t WindowSampler::window_at(int64_t position) {
  const int64_t epoch = position / windows_;
  if (epoch != epoch_) {
    // Our own Fisher-Yates over mt19937_64 (std::shuffle's algorithm is up to
    // the library): the same order on every platform.
    std::mt19937_64 rng(seed_ ^ (0x9E3779B97F4A7C15ull * uint64_t(epoch + 1)));
    order_.resize(static_cast<size_t>(windows_));
    for (int64_t i = 0; i < windows_; ++i) order_[size_t(i)] = i;
    for (int64_t i = windows_ - 1; i > 0; --i) {
      const int64_t j = static_cast<int64_t>(rng() % uint64_t(i + 1));
      std::swap(order_[size_t(i)], order_[size_t(j)]);
    }
    epoch_ = epoch;
  }
  return order_[size_t(position % windows_)];
}

int64_t total_steps(const TrainOptions& options, int64_t windows) {
  if (options.max_steps > 0) return options.max_steps;
  if (options.epochs == 0) return 0;  // no fine-tuning: the model is only converted
  const int64_t per_step = options.batch_size * options.grad_accum * std::max(options.world_size, 1);
  return std::max<int64_t>(1, (options.epochs * windows + per_step - 1) / per_step);
}

}  // namespace seedforge
