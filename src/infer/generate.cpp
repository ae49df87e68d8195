#include "infer/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

#include "common/error.h"
#include "infer/session.h"

namespace seedforge {

void check_generate_options(const GenerateOptions& options) {
  if (options.steps <= 0) throw usage_error("--steps must be positive, got ", options.steps);
  if (options.temperature < 0) throw usage_error("--temperature must be >= 0, got ", options.temperature);
  if (!(options.top_p > 0 && options.top_p <= 1)) throw usage_error("--top-p must be in (0, 1], got ", options.top_p);
}

namespace infer {

int32_t argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

int32_t sample_top_p(const float* logits, int64_t n, double temperature, double top_p, double coin) {
  const float t = static_cast<float>(temperature);
  std::vector<float> p(static_cast<size_t>(n));
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::max(max, logits[i] / t);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    p[static_cast<size_t>(i)] = std::exp(logits[i] / t - max);
    sum += p[static_cast<size_t>(i)];
  }
  for (float& v : p) v /= sum;
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
  double mass = 0.0;
  size_t last = order.size() - 1;
  for (size_t i = 0; i < order.size(); ++i) {
    mass += p[order[i]];
    if (mass >= top_p) {
      last = i;
      break;
    }
  }
  const double target = coin * mass;
  double acc = 0.0;
  for (size_t i = 0; i <= last; ++i) {
    acc += p[order[i]];
    if (target < acc) return order[i];
  }
  return order[last];
}

GenerateResult generate(Session& session, const Tokenizer& tokenizer, const GenerateOptions& options) {
  check_generate_options(options);
  const auto start = std::chrono::steady_clock::now();
  const ModelConfig& config = session.model().config;
  session.reset();
  GenerateResult result;
  result.tokens.push_back(tokenizer.bos_id());
  const std::vector<int32_t> prompt = tokenizer.encode(options.prompt);
  result.tokens.insert(result.tokens.end(), prompt.begin(), prompt.end());
  const int64_t steps = std::min<int64_t>(options.steps, config.max_seq_len);
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);

  auto emit = [&](int32_t previous, int32_t id) {
    const std::string piece = tokenizer.decode_piece(previous, id);
    result.text += piece;
    if (options.on_piece) options.on_piece(piece);
  };
  // Prompt pieces are printed as they are consumed, as llama2.c does.
  for (size_t i = 1; i < result.tokens.size() && static_cast<int64_t>(i) < steps; ++i) emit(result.tokens[i - 1], result.tokens[i]);

  // Prefill all but the last prompt token in one pass, then step one token at a time.
  int64_t pos = 0;
  const int64_t n_prompt = std::min<int64_t>(static_cast<int64_t>(result.tokens.size()), steps);
  if (n_prompt > 1) {
    session.forward(result.tokens.data(), n_prompt - 1);
    pos = n_prompt - 1;
  }
  int32_t token = result.tokens[static_cast<size_t>(pos)];
  const int64_t vocab = config.vocab_size;
  while (pos < steps - 1) {
    const float* logits = session.forward(&token, 1);
    ++pos;
    const int32_t next = options.temperature == 0.0 ? argmax(logits, vocab)
                                                     : sample_top_p(logits, vocab, options.temperature, options.top_p,
                                                                    uniform(rng));
    if (next == tokenizer.bos_id() || next == tokenizer.eos_id()) break;
    emit(token, next);
    result.tokens.push_back(next);
    ++result.generated;
    token = next;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.tokens_per_second = result.seconds > 0 ? double(pos) / result.seconds : 0.0;
  return result;
}

}  // namespace infer
}  // namespace seedforge
