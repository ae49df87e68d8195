// Text generation with the engine's KV cache, and the options and result it
// shares with the libtorch path (eval/generate.h): greedy at temperature 0,
// else temperature + nucleus (top-p) sampling with a fixed seed. Stops at BOS
// or EOS or after `steps` positions (prompt included, as llama2.c's run counts).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace seedforge {

struct GenerateOptions {
  std::string prompt;
  int64_t steps = 256;
  double temperature = 0.0;
  double top_p = 0.9;
  uint64_t seed = 42;
  // Receives each printed piece as soon as it is decoded (streaming output).
  std::function<void(const std::string&)> on_piece;
};

struct GenerateResult {
  std::string text;                 // the prompt's pieces and the generated ones
  std::vector<int32_t> tokens;      // BOS, prompt and generated ids
  int64_t generated = 0;            // tokens sampled
  double seconds = 0.0;
  double tokens_per_second = 0.0;   // positions processed per second
};

// Throws usage_error for steps <= 0, temperature < 0 or top_p outside (0, 1].
void check_generate_options(const GenerateOptions& options);

namespace infer {

class Session;

// Index of the largest logit (the first of equal ones), as torch.argmax.
int32_t argmax(const float* logits, int64_t n);
// softmax(logits / temperature), then the smallest set of most probable
// tokens whose mass reaches top_p (ties by lower id), sampled with coin in [0, 1).
int32_t sample_top_p(const float* logits, int64_t n, double temperature, double top_p, double coin);

// Runs from position 0 (the session is reset first).
GenerateResult generate(Session& session, const Tokenizer& tokenizer, const GenerateOptions& options);

}  // namespace infer
}  // namespace seedforge
