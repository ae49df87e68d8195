#include "train/synthetic_data.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "common/error.h"

namespace seedforge {

std::vector<std::vector<int32_t>> sample_documents(Transformer& model, const SampleOptions& options) {
  if (options.tokens < 0) throw usage_error("sample_documents: tokens must be >= 0, got ", options.tokens);
  if (options.max_len < 2) throw usage_error("sample_documents: max_len must be >= 2, got ", options.max_len);
  if (options.max_len > model->config().max_seq_len) {
    throw usage_error("sample_documents: max_len ", options.max_len, " exceeds the model's max_seq_len ",
                      model->config().max_seq_len);
  }
  if (!(options.temperature > 0.0)) throw usage_error("sample_documents: temperature must be > 0, got ", options.temperature);
  if (options.batch < 1) throw usage_error("sample_documents: batch must be >= 1, got ", options.batch);

  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const torch::Device device = model->device();
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);

  std::vector<std::vector<int32_t>> documents;
  int64_t total = 0;
  while (total < options.tokens) {
    // Rows for what is left of the budget (a sample averages well under
    // max_len tokens), at most options.batch: a small budget decodes few rows.
    const int64_t b = std::clamp<int64_t>((options.tokens - total) / std::max<int64_t>(1, options.max_len / 2) + 1, 1,
                                          options.batch);
    KVCache cache = model->make_cache(b, options.max_len);
    std::vector<std::vector<int32_t>> rows(static_cast<size_t>(b));
    std::vector<bool> alive(static_cast<size_t>(b), true);
    int64_t n_alive = b;
    torch::Tensor next = torch::full({b, 1}, int64_t(options.bos), torch::kInt64);
    for (int64_t pos = 0; pos + 1 < options.max_len && n_alive > 0; ++pos) {
      const torch::Tensor logits = model->forward_cached(next.to(device), cache).select(1, 0);  // [B, V]
      const torch::Tensor probs =
          torch::softmax(logits.to(torch::kFloat64) / options.temperature, -1).to(torch::kCPU).contiguous();
      const int64_t v = probs.size(1);
      const double* p = probs.data_ptr<double>();
      auto nx = next.accessor<int64_t, 2>();
      for (int64_t r = 0; r < b; ++r) {
        if (!alive[size_t(r)]) continue;  // finished rows keep decoding (batch shape), their draws are unused
        const double coin = uniform(rng);
        double acc = 0.0;
        int64_t token = v - 1;
        for (int64_t i = 0; i < v; ++i) {
          acc += p[r * v + i];
          if (coin < acc) {
            token = i;
            break;
          }
        }
        nx[r][0] = token;
        if (token == options.bos || token == options.eos) {
          alive[size_t(r)] = false;
          --n_alive;
        } else {
          rows[size_t(r)].push_back(static_cast<int32_t>(token));
        }
      }
    }
    for (auto& row : rows) {
      if (row.empty() || total >= options.tokens) continue;
      total += static_cast<int64_t>(row.size()) + 1;
      documents.push_back(std::move(row));
    }
  }
  if (was_training) model->train();
  return documents;
}

void append_documents(TrainData& data, const std::vector<std::vector<int32_t>>& documents, int32_t bos) {
  for (const auto& doc : documents) {
    data.stream.push_back(bos);
    data.stream.insert(data.stream.end(), doc.begin(), doc.end());
  }
  data.train_documents += static_cast<int64_t>(documents.size());
  data.windows = (static_cast<int64_t>(data.stream.size()) - 1) / data.seq_len;
}

void add_synthetic_documents(TrainData& data, Transformer& original, const Tokenizer& tokenizer,
                             const TrainOptions& options, const std::function<void(const std::string&)>& log) {
  if (options.synthetic_tokens <= 0) return;
  SampleOptions s;
  s.tokens = options.synthetic_tokens;
  s.max_len = original->config().max_seq_len;
  s.temperature = options.synthetic_temperature;
  s.seed = options.seed;
  s.bos = tokenizer.bos_id();
  s.eos = tokenizer.eos_id();
  const auto start = std::chrono::steady_clock::now();
  const std::vector<std::vector<int32_t>> docs = sample_documents(original, s);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t windows_before = data.windows;
  const size_t stream_before = data.stream.size();
  append_documents(data, docs, s.bos);
  const int64_t tokens = static_cast<int64_t>(data.stream.size() - stream_before);  // BOS included
  if (log) {
    log(concat("sampled ", docs.size(), " documents (", tokens, " tokens) from the original model at temperature ",
               options.synthetic_temperature, " in ", seconds, " s (", seconds > 0 ? double(tokens) / seconds : 0.0,
               " tokens/s): training windows ", windows_before, " -> ", data.windows));
  }
}

}  // namespace seedforge
