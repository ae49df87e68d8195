#include "eval/generate.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>

#include "common/error.h"

namespace seedforge {

namespace {

// probs: [V] fp32 on CPU. Smallest set of tokens whose mass reaches top_p, then sample.
int32_t sample_top_p(const torch::Tensor& probs, double top_p, double coin) {
  auto sorted = probs.sort(/*dim=*/-1, /*descending=*/true);
  auto values = std::get<0>(sorted).contiguous();
  auto indices = std::get<1>(sorted).contiguous();
  const float* p = values.data_ptr<float>();
  const int64_t* idx = indices.data_ptr<int64_t>();
  const int64_t n = values.numel();
  double mass = 0.0;
  int64_t last = n - 1;
  for (int64_t i = 0; i < n; ++i) {
    mass += p[i];
    if (mass >= top_p) {
      last = i;
      break;
    }
  }
  double target = coin * mass, acc = 0.0;
  for (int64_t i = 0; i <= last; ++i) {
    acc += p[i];
    if (target < acc) return static_cast<int32_t>(idx[i]);
  }
  return static_cast<int32_t>(idx[last]);
}

}  // namespace

GenerateResult generate(Transformer& model, const Tokenizer& tokenizer, const GenerateOptions& options) {
  if (options.steps <= 0) throw usage_error("--steps must be positive, got ", options.steps);
  if (options.temperature < 0) throw usage_error("--temperature must be >= 0, got ", options.temperature);
  if (!(options.top_p > 0 && options.top_p <= 1)) throw usage_error("--top-p must be in (0, 1], got ", options.top_p);
  torch::NoGradGuard no_grad;
  model->eval();
  const auto start = std::chrono::steady_clock::now();

  GenerateResult result;
  result.tokens.push_back(tokenizer.bos_id());
  const std::vector<int32_t> prompt = tokenizer.encode(options.prompt);
  result.tokens.insert(result.tokens.end(), prompt.begin(), prompt.end());
  const int64_t steps = std::min<int64_t>(options.steps, model->config().max_seq_len);
  const auto device = model->device();
  KVCache cache = model->make_cache(1, steps);
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
    auto prefix = torch::tensor(std::vector<int64_t>(result.tokens.begin(), result.tokens.begin() + n_prompt - 1)).view({1, -1});
    model->forward_cached(prefix.to(device), cache);
    pos = n_prompt - 1;
  }
  int32_t token = result.tokens[static_cast<size_t>(pos)];
  while (pos < steps - 1) {
    auto logits = model->forward_cached(torch::tensor({int64_t(token)}).view({1, 1}).to(device), cache);
    ++pos;
    auto last = logits[0][-1].to(torch::kFloat32).cpu();
    int32_t next;
    if (options.temperature == 0.0) {
      next = static_cast<int32_t>(last.argmax().item<int64_t>());
    } else {
      auto probs = torch::softmax(last / options.temperature, -1);
      next = sample_top_p(probs, options.top_p, uniform(rng));
    }
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

}  // namespace seedforge
