// Tiny Llama models for fuzzing: the fixed shards behind fuzz_hf_folder and
// the weights make_seeds writes into every checkpoint format. Values are
// deterministic, so rebuilt seed corpora are byte-identical.
#pragma once

#include <torch/torch.h>

#include <string>

#include "io/io_test_model.h"
#include "model/model_config.h"
#include "model/transformer.h"

namespace seedforge::fuzz {

// A 2-layer Llama with grouped-query attention and an untied classifier.
inline ModelConfig tiny_model_config() {
  ModelConfig c = test::tiny_config(/*tied=*/false);
  c.dim = 8;
  c.hidden_dim = 16;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.vocab_size = 16;
  c.max_seq_len = 32;
  return c;
}

// Canonical Hugging Face names, fp32, seeded random values.
inline StateDict tiny_model_weights(const ModelConfig& c) { return test::tiny_state_dict(c, 1); }

// fuzz_hf_folder's shards: tiny_model_weights split after layer 0, the
// classifier stored in fp16 (the loaders convert).
inline const char* const kSafetensorsShards[2] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
inline const char* const kPtShards[2] = {"pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"};

inline StateDict hf_shard(int which) {
  StateDict shard;
  for (auto& [name, value] : tiny_model_weights(tiny_model_config())) {
    const bool first = name == "model.embed_tokens.weight" || name.rfind("model.layers.0.", 0) == 0;
    if (first != (which == 0)) continue;
    shard.emplace_back(name, name == "lm_head.weight" ? value.to(torch::kFloat16) : value);
  }
  return shard;
}

}  // namespace seedforge::fuzz
