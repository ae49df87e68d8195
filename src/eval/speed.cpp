#include "eval/speed.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "common/error.h"
#include "infer/generate.h"
#include "eval/peak_memory.h"
#include "runtime/threads.h"

namespace seedforge {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// One prefill pass: tokens [B, T] into a fresh cache. Reading back one logit
// waits for the device (CUDA kernels are asynchronous).
double time_prefill(Transformer& model, const torch::Tensor& tokens) {
  const auto start = std::chrono::steady_clock::now();
  KVCache cache = model->make_cache(tokens.size(0), tokens.size(1));
  auto logits = model->forward_cached(tokens, cache);  // [B, T, V]
  (void)logits.index({0, -1, 0}).item<float>();
  return seconds_since(start);
}

// `steps` greedy decode steps from BOS, one position each, with the KV cache.
double time_decode(Transformer& model, int64_t steps, torch::Device device) {
  KVCache cache = model->make_cache(1, steps);
  int64_t token = 1;  // BOS in the llama2.c/Llama vocabularies; any id would do
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) {
    auto logits = model->forward_cached(torch::full({1, 1}, token, torch::kInt64).to(device), cache);  // [1, 1, V]
    token = logits[0][0].argmax().item<int64_t>();  // the read-back also synchronizes
  }
  return seconds_since(start);
}

}  // namespace

SpeedResult measure_speed(Transformer& model, const SpeedOptions& options) {
  if (options.prefill_tokens <= 0 || options.prefill_batch <= 0 || options.decode_tokens <= 0 || options.repeats <= 0) {
    throw usage_error("speed: prefill tokens, prefill batch, decode tokens and repeats must be positive, got ",
                      options.prefill_tokens, ", ", options.prefill_batch, ", ", options.decode_tokens, ", ",
                      options.repeats);
  }
  torch::NoGradGuard no_grad;
  model->eval();
  const auto device = model->device();
  const int64_t max_len = model->config().max_seq_len;
  const int64_t vocab = model->config().vocab_size;

  SpeedResult result;
  result.device = device.str();
  result.threads = configured_threads();
  result.prefill_batch = options.prefill_batch;
  result.prefill_tokens = std::min(options.prefill_tokens, max_len);
  result.decode_tokens = std::min(options.decode_tokens, max_len);
  if (device.is_cuda()) reset_peak_cuda_bytes(device.index() < 0 ? 0 : device.index());

  // Fixed pseudo-random ids (a multiplicative hash), the same every run.
  const int64_t n = result.prefill_batch * result.prefill_tokens;
  auto ids = torch::arange(n, torch::kInt64).mul(static_cast<int64_t>(2654435761LL)).remainder(vocab).view({result.prefill_batch, -1}).to(device);

  time_prefill(model, ids);  // warm-up: first-call allocations and thread start-up
  time_decode(model, std::min<int64_t>(result.decode_tokens, 8), device);
  std::vector<double> prefill, decode;
  for (int r = 0; r < options.repeats; ++r) {
    prefill.push_back(time_prefill(model, ids));
    decode.push_back(time_decode(model, result.decode_tokens, device));
  }
  result.prefill_seconds = median(prefill);
  result.decode_seconds = median(decode);
  result.prefill_tokens_per_second = result.prefill_seconds > 0 ? double(n) / result.prefill_seconds : 0.0;
  result.decode_tokens_per_second =
      result.decode_seconds > 0 ? double(result.decode_tokens) / result.decode_seconds : 0.0;
  result.peak_rss_bytes = peak_rss_bytes();
  if (device.is_cuda()) result.peak_cuda_bytes = peak_cuda_bytes(device.index() < 0 ? 0 : device.index());
  return result;
}

SpeedResult measure_speed(const std::shared_ptr<const infer::Model>& model, const SpeedOptions& options,
                          const infer::SessionOptions& session_options) {
  if (options.prefill_tokens <= 0 || options.prefill_batch <= 0 || options.decode_tokens <= 0 || options.repeats <= 0) {
    throw usage_error("speed: prefill tokens, prefill batch, decode tokens and repeats must be positive, got ",
                      options.prefill_tokens, ", ", options.prefill_batch, ", ", options.decode_tokens, ", ",
                      options.repeats);
  }
  infer::Session session(model, session_options);
  const int64_t max_len = model->config.max_seq_len;
  const int64_t vocab = model->config.vocab_size;
  SpeedResult result;
  result.device = "cpu";
  result.threads = session.threads();
  result.prefill_batch = options.prefill_batch;
  result.prefill_tokens = std::min(options.prefill_tokens, max_len);
  result.decode_tokens = std::min(options.decode_tokens, max_len);

  // The same fixed pseudo-random ids as the libtorch measurement.
  const int64_t n = result.prefill_batch * result.prefill_tokens;
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>((i * 2654435761LL) % vocab);
  auto prefill = [&] {
    const auto start = std::chrono::steady_clock::now();
    for (int64_t b = 0; b < result.prefill_batch; ++b) {
      session.reset();
      session.forward(ids.data() + b * result.prefill_tokens, result.prefill_tokens);
    }
    return seconds_since(start);
  };
  auto decode = [&](int64_t steps) {
    session.reset();
    int32_t token = 1;
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < steps; ++i) token = infer::argmax(session.forward(&token, 1), vocab);
    return seconds_since(start);
  };
  prefill();  // warm-up
  decode(std::min<int64_t>(result.decode_tokens, 8));
  std::vector<double> prefills, decodes;
  for (int r = 0; r < options.repeats; ++r) {
    prefills.push_back(prefill());
    decodes.push_back(decode(result.decode_tokens));
  }
  result.prefill_seconds = median(prefills);
  result.decode_seconds = median(decodes);
  result.prefill_tokens_per_second = result.prefill_seconds > 0 ? double(n) / result.prefill_seconds : 0.0;
  result.decode_tokens_per_second =
      result.decode_seconds > 0 ? double(result.decode_tokens) / result.decode_seconds : 0.0;
  result.peak_rss_bytes = peak_rss_bytes();
  return result;
}

}  // namespace seedforge
