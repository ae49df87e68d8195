// Text generation with the KV cache: greedy at temperature 0, else
// temperature + nucleus (top-p) sampling with a fixed seed. Stops at BOS or
// EOS or after `steps` positions (prompt included, as llama2.c's run counts).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "infer/generate.h"  // GenerateOptions, GenerateResult (shared with the engine)
#include "model/transformer.h"
#include "tokenizer/tokenizer.h"

namespace seedforge {

GenerateResult generate(Transformer& model, const Tokenizer& tokenizer, const GenerateOptions& options);

}  // namespace seedforge
