// Helpers of the evaluations that run on the inference engine (infer/):
// independent items (documents, HellaSwag tasks) spread over sessions that
// run side by side, and the log-likelihood of a target under fp32 logits.
// Torch-free.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "infer/model.h"
#include "infer/session.h"

namespace seedforge {

// Calls fn(session, i) for every i in [0, n): min(options.threads, n)
// threads, each with its own single-threaded Session (options.kernels), take
// the items in index order. progress(done, n) after each item (serialized).
// The first exception is rethrown after all threads stop.
void run_sessions(const std::shared_ptr<const infer::Model>& model, const infer::SessionOptions& options, int64_t n,
                  const std::function<void(int64_t, int64_t)>& progress,
                  const std::function<void(infer::Session&, int64_t)>& fn);

// -log softmax(logits)[target], in double (logits: n fp32 values).
double negative_log_likelihood(const float* logits, int64_t n, int32_t target);

}  // namespace seedforge
