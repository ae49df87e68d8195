// Running a .stage1.pt model: decode its tensors into a Transformer whose
// projections, when the file says BitNet, quantize activations exactly as the
// fine-tuned BitLinear did at lambda = 1, while using the stored (decoded)
// weights as they are; and a single "open any model" entry for the tools.
#pragma once

#include <string>

#include "io/model_loader.h"
#include "pipeline/stage1_file.h"
#include "train/bit_linear_options.h"

namespace seedforge {

// y = x_q W^T (+ b): x_q = activations quantized per token as BitLinear does
// (after the optional parameter-free input norm), W the decoded weight used
// as is (no re-ternarization: the stored scale is the scale).
class FrozenBitLinearImpl : public LinearLayerImpl {
 public:
  FrozenBitLinearImpl(const torch::Tensor& weight, const torch::Tensor& bias, const BitNetOptions& options);
  torch::Tensor forward(const torch::Tensor& x) override;
  const BitNetOptions& options() const { return options_; }

 private:
  BitNetOptions options_;
};

// Replaces every projection with a FrozenBitLinear over its current weight.
void freeze_as_bitnet(Transformer& model, const BitNetOptions& options);

// Builds the inference model of a Stage-1 file (CPU, eval mode).
Transformer build_stage1_model(const Stage1File& file, const std::string& where);

// What runs a .stage1.pt file: the libtorch model over its decoded weights
// (kTorch), the inference engine over the file as stored (kTernary,
// infer/session.h: CPU only), or the engine when the file is a .stage1.pt and
// the device the CPU, else libtorch (kAuto, what `stage1 eval` and `stage1
// generate` use). A GGUF file (stage1 export) runs on the engine only
// (gguf/gguf_model.h). Other formats always run on libtorch.
enum class ModelEngine { kAuto, kTernary, kTorch };
// "auto", "ternary", "torch"; usage_error naming the option otherwise.
ModelEngine parse_model_engine(const std::string& name);

// Any supported model path, a .stage1.pt included, with its tokenizer. With
// the engine, `engine` is set and `model` left empty (the checkpoint keeps
// the config, format, path and tokenizer fields, no tensors).
LoadedModel open_model(const std::string& path, const std::string& tokenizer_path, torch::Device device = torch::kCPU,
                       ModelEngine engine = ModelEngine::kTorch);

}  // namespace seedforge
