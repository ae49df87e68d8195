// A small, fast Stage-1 configuration for pipeline tests: a few fine-tuning
// steps, a subset of the evaluation text, a restricted SeedLM seed search.
#pragma once

#include <string>

#include "config/stage1_config.h"
#include "test_util.h"

namespace seedforge::test {

inline std::string tiny_config_json(int64_t max_steps = 4, int activation_bits = 8, int64_t checkpoint_every = 0) {
  return R"({
  "bitnet": {"lr": 0.002, "max_steps": )" + std::to_string(max_steps) + R"(, "batch_size": 2, "grad_accum": 1,
             "seq_len": 64, "activation_bits": )" + std::to_string(activation_bits) + R"(,
             "checkpoint_every": )" + std::to_string(checkpoint_every) + R"(, "seed": 7},
  "seedlm": {"seed_candidates": 512},
  "eval": {"max_docs": 12},
  "hardware": {"threads": 2}
})";
}

inline Stage1Config tiny_config(int64_t max_steps = 4, int activation_bits = 8, int64_t checkpoint_every = 0) {
  return parse_stage1_config(tiny_config_json(max_steps, activation_bits, checkpoint_every), "tiny test config");
}

}  // namespace seedforge::test
