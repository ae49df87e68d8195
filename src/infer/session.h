// A running sequence over a Model: the KV cache, the scratch buffers, the
// forward pass. The Model is shared and read-only, so several sessions may
// run side by side on different threads (the evaluation runs one per worker).
//
// The forward pass is the libtorch Transformer's (model/transformer.h), in the
// same order and fp32 arithmetic, with the projections run as the fine-tuned
// BitLinear layers ran them at lambda = 1 (train/bit_linear.h):
//   x = embed(tokens)                                            [T, C]
//   per layer:
//     h = rmsnorm(x) * w_attn
//     q, k, v = P(h)            P: per token (input norm,) absmax int8 quantization
//                                  x_q = clamp(round(h * s), -128, 127), s = 127 / max|h|,
//                                  then y = (W_trits . x_q) * scale / s (+ bias)
//     q, k = rope(q, k)         HF half-split form; positions cache.length ..
//     attention                 causal, grouped-query (head h uses kv head h / (H / Hkv)),
//                               q scaled by 1/sqrt(D), softmax in fp32, over the cache
//     x = x + P_o(attention)
//     h = rmsnorm(x) * w_ffn
//     x = x + P_down(silu(P_gate(h)) * P_up(h))
//   logits = rmsnorm(x) * w_final . head^T                        [T or 1, V]
// Activation bits 0 (or 9..16) run the float-activation kernels; projections
// stored with a float codec run the dense kernel on x_q / s (as BitLinear's
// dequantized activations).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "infer/kernels.h"
#include "infer/model.h"
#include "infer/thread_pool.h"

namespace seedforge::infer {

// BitLinear's absmax activation quantizer for one token (train/bit_linear.cpp,
// quantize_activations), bits in [2, 8]: s = qp / max(max|x|, 1e-5) in fp32
// (qp = 2^(bits-1) - 1), q = clamp(round_half_even(x * s), -qp - 1, qp).
// x: K floats -> q: K int8; returns s (BitLinear's x_q = q / s).
float quantize_activations_int8(const float* x, int64_t K, int bits, int8_t* q);

struct SessionOptions {
  // Threads for the matrix kernels and attention of this session (1 = the
  // calling thread only). Sessions running side by side should use 1 each.
  int threads = 1;
  // A kernel variant by name ("generic", "avx2", "avx512", "avx512vnni");
  // empty = the best this CPU runs within SEEDFORGE_ISA.
  std::string kernels;
};

class Session {
 public:
  explicit Session(std::shared_ptr<const Model> model, const SessionOptions& options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Model& model() const { return *model_; }
  const Kernels& kernels() const { return *kernels_; }
  int threads() const { return pool_ ? pool_->size() : 1; }

  // Tokens in the KV cache (the position of the next token).
  int64_t position() const { return position_; }
  // Forgets the cache (position 0).
  void reset() { position_ = 0; }
  // Keeps the first `position` cached tokens (0 <= position <= position()):
  // the next forward continues from there, as if the later tokens had never run.
  void rewind(int64_t position);

  // Runs `n` tokens at positions position() .. position() + n - 1 and appends
  // them to the cache. Returns the logits of every token ([n][V], all_logits)
  // or of the last one ([V]); the pointer is valid until the next call.
  // Throws usage_error for n <= 0, a token outside the vocabulary, or more
  // than max_seq_len positions.
  const float* forward(const int32_t* tokens, int64_t n, bool all_logits = false);

  // KV-cache and scratch bytes held now.
  int64_t state_bytes() const;

 private:
  struct Input;
  void reserve(int64_t positions);
  void prepare(Input& in, const float* x, int64_t T, int64_t K);
  void project(const Projection& p, Input& in, float* y, int64_t y_stride);
  void dense(const DenseMatrix& m, const float* x, int64_t x_stride, int64_t T, float* y, int64_t y_stride);
  void attention(int64_t layer, int64_t T);
  // fn(begin, end) over row ranges, on the pool when the work is large enough.
  template <typename F>
  void parallel_rows(int64_t rows, int64_t work_per_row, F&& fn);

  std::shared_ptr<const Model> model_;
  const Kernels* kernels_;
  std::unique_ptr<ThreadPool> pool_;
  int64_t position_ = 0;
  int64_t capacity_ = 0;
  // Per layer: keys transposed [Hkv][D][capacity] (positions contiguous, see
  // kernels_attention_impl.h), values [capacity][Hkv * D].
  std::vector<std::vector<float>> k_cache_, v_cache_;
  std::vector<float> rope_cos_, rope_sin_;             // [capacity][D / 2]
  // Scratch, sized for the largest T so far.
  std::vector<float> x_, h_, q_, k_, v_, att_, tmp_, gate_, up_, logits_;
  std::unique_ptr<Input> in_;
};

}  // namespace seedforge::infer
