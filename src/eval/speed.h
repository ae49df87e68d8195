// Inference speed of a model: prefill tokens/s (a prompt of T tokens in one
// forward pass that fills the KV cache) and decode tokens/s (one token a step
// with the KV cache, greedy), with the thread count, the device and the peak
// memory. Inputs are fixed pseudo-random token ids: speed does not depend on
// which tokens they are. Each figure is the median of `repeats` timed runs
// after one untimed warm-up run.
#pragma once

#include <cstdint>
#include <string>

#include "infer/model.h"
#include "infer/session.h"
#include "model/transformer.h"

namespace seedforge {

struct SpeedOptions {
  int64_t prefill_tokens = 256;  // T, cut to the model's max_seq_len
  int64_t prefill_batch = 1;     // B prompts at once
  int64_t decode_tokens = 256;   // steps, cut to the model's max_seq_len
  int repeats = 3;
};

struct SpeedResult {
  std::string device;                     // "cpu", "cuda:0"
  int threads = 0;                        // intra-op threads in force
  int64_t prefill_batch = 0;
  int64_t prefill_tokens = 0;             // per prompt
  double prefill_seconds = 0.0;           // median of one pass over B x T
  double prefill_tokens_per_second = 0.0; // B * T / prefill_seconds
  int64_t decode_tokens = 0;
  double decode_seconds = 0.0;            // median of one run of decode_tokens steps
  double decode_tokens_per_second = 0.0;
  int64_t peak_rss_bytes = 0;             // process high-water mark after the runs
  int64_t peak_cuda_bytes = -1;           // on a CUDA device in a CUDA build, else -1
};

SpeedResult measure_speed(Transformer& model, const SpeedOptions& options = {});

// The same on the inference engine: one session with session.threads
// threads; the B prompts of a prefill pass run one after the other (the engine
// runs one sequence at a time). `device` is "cpu".
SpeedResult measure_speed(const std::shared_ptr<const infer::Model>& model, const SpeedOptions& options,
                          const infer::SessionOptions& session);

}  // namespace seedforge
