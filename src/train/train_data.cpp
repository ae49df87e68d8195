#include "train/train_data.h"

#include <cmath>

#include "common/error.h"
#include "eval/documents.h"

namespace seedforge {

TrainData make_train_data(const std::vector<std::string>& train_documents, const std::string& train_where,
                          const std::vector<std::string>& valid_documents, const std::string& valid_where,
                          const Tokenizer& tokenizer, const TrainOptions& options, int64_t max_seq_len) {
  if (options.seq_len > max_seq_len) {
    throw usage_error("bitnet.seq_len ", options.seq_len, " exceeds the model's max_seq_len ", max_seq_len);
  }
  if (train_documents.empty()) throw input_error(train_where, ": no training documents");
  TrainData data;
  data.seq_len = options.seq_len;

  size_t n_train = train_documents.size();
  std::vector<std::string> held_out;
  if (!valid_documents.empty()) {
    data.valid_source = valid_where;
  } else if (options.valid_fraction > 0.0) {
    const size_t n_valid = std::max<size_t>(1, size_t(std::llround(options.valid_fraction * double(n_train))));
    if (n_valid >= n_train) {
      throw usage_error("bitnet.valid_fraction ", options.valid_fraction, " holds out all ", n_train,
                        " documents of ", train_where, ": nothing left to train on");
    }
    n_train -= n_valid;
    held_out.assign(train_documents.begin() + static_cast<std::ptrdiff_t>(n_train), train_documents.end());
    data.valid_source = concat("the last ", n_valid, " documents of ", train_where);
  }
  const std::vector<std::string>& valid = valid_documents.empty() ? held_out : valid_documents;
  data.valid_documents = tokenize_documents(valid, tokenizer, max_seq_len);

  const std::vector<std::string> train(train_documents.begin(), train_documents.begin() + static_cast<std::ptrdiff_t>(n_train));
  for (const auto& doc : tokenize_documents(train, tokenizer, 0)) {
    data.stream.insert(data.stream.end(), doc.begin(), doc.end());
  }
  data.train_documents = static_cast<int64_t>(n_train);
  const int64_t n = static_cast<int64_t>(data.stream.size());
  if (n < options.seq_len + 1) {
    throw input_error(train_where, ": ", n, " tokens in ", n_train, " training documents, fewer than one window of ",
                      "bitnet.seq_len + 1 = ", options.seq_len + 1, " tokens: give a longer text or lower bitnet.seq_len");
  }
  data.windows = (n - 1) / options.seq_len;
  return data;
}

TrainData load_train_data(const std::string& train_path, const std::string& valid_path, const Tokenizer& tokenizer,
                          const TrainOptions& options, int64_t max_seq_len) {
  const std::vector<std::string> train = read_documents(train_path);
  std::vector<std::string> valid;
  if (!valid_path.empty()) valid = read_documents(valid_path);
  return make_train_data(train, train_path, valid, valid_path, tokenizer, options, max_seq_len);
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
  const int64_t per_step = options.batch_size * options.grad_accum;
  return std::max<int64_t>(1, (options.epochs * windows + per_step - 1) / per_step);
}

}  // namespace seedforge
