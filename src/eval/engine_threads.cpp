#include "eval/engine_threads.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace seedforge {

void run_sessions(const std::shared_ptr<const infer::Model>& model, const infer::SessionOptions& options, int64_t n,
                  const std::function<void(int64_t, int64_t)>& progress,
                  const std::function<void(infer::Session&, int64_t)>& fn) {
  if (n <= 0) return;
  const int workers = static_cast<int>(std::min<int64_t>(std::max(1, options.threads), n));
  infer::SessionOptions one = options;
  one.threads = 1;
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  int64_t done = 0;
  std::exception_ptr error;
  auto work = [&] {
    try {
      infer::Session session(model, one);
      for (int64_t i; !failed.load() && (i = next.fetch_add(1)) < n;) {
        fn(session, i);
        std::lock_guard<std::mutex> lock(mutex);
        ++done;
        if (progress) progress(done, n);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!error) error = std::current_exception();
      failed.store(true);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < workers; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

double negative_log_likelihood(const float* logits, int64_t n, int32_t target) {
  float max = logits[0];
  for (int64_t i = 1; i < n; ++i) max = std::max(max, logits[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - double(max));
  return double(max) + std::log(sum) - double(logits[target]);
}

}  // namespace seedforge
