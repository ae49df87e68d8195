// The parameters a ModelConfig implies, by name and shape, without building
// the model: what a plan (--dry-run) needs to choose codecs and size the
// output and the memory of a model it does not load. Torch-free. The names
// and order are the Transformer's state dict's (model/transformer.h); the
// test in tests/model holds them equal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model_config.h"

namespace seedforge {

struct ParameterShape {
  std::string name;            // HF Llama name, e.g. "model.layers.3.mlp.up_proj.weight"
  std::vector<int64_t> shape;  // as stored: [out, in] for projections
  int64_t numel() const;
};

// In named_parameters() order: the embedding; per layer q, (q bias), k,
// (k bias), v, (v bias), o, gate, up, down, input norm, post-attention norm;
// the final norm; the untied head.
std::vector<ParameterShape> parameter_shapes(const ModelConfig& config);

// Sum of numel over parameter_shapes(config).
int64_t parameter_count(const ModelConfig& config);

}  // namespace seedforge
