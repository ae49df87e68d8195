// One call from a path to a ready model: checkpoint + Transformer + tokenizer,
// with the tokenizer checked against the model's vocabulary.
#pragma once

#include <memory>
#include <string>

#include "infer/model.h"
#include "io/checkpoint.h"
#include "model/transformer.h"
#include "tokenizer/tokenizer.h"

namespace seedforge {

struct LoadedModel {
  Checkpoint checkpoint;        // config, format, path and tokenizer fields; no tensors (the model holds them)
  Transformer model{nullptr};   // the libtorch model, or empty when `engine` runs the model
  std::shared_ptr<const infer::Model> engine;  // the inference engine's model (.stage1.pt files)
  std::unique_ptr<Tokenizer> tokenizer;
};

// tokenizer_path "" = the checkpoint's own (embedded or beside it).
LoadedModel load_model(const std::string& model_path, const std::string& tokenizer_path,
                       torch::Device device = torch::kCPU);

// The checkpoint's tokenizer: tokenizer_path when given, else the one
// embedded in it or found beside it; checked against its vocabulary.
std::unique_ptr<Tokenizer> load_checkpoint_tokenizer(const Checkpoint& checkpoint, const std::string& tokenizer_path,
                                                     const std::string& model_path);

// The tokenizer's ids must index the model's embedding table.
void check_tokenizer_matches(const ModelConfig& config, const Tokenizer& tokenizer, const std::string& tokenizer_where,
                             const std::string& model_where);

}  // namespace seedforge
