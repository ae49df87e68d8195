// Text generation with the KV cache: greedy at temperature 0, else
// temperature + nucleus (top-p) sampling with a fixed seed. Stops at BOS or
// EOS or after `steps` positions (prompt included, as llama2.c's run counts).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/transformer.h"
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

GenerateResult generate(Transformer& model, const Tokenizer& tokenizer, const GenerateOptions& options);

}  // namespace seedforge
