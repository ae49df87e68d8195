#include "pipeline/stage1_model.h"

#include "common/error.h"
#include "common/release_memory.h"
#include "gguf/gguf_model.h"
#include "train/bit_linear.h"

namespace seedforge {

FrozenBitLinearImpl::FrozenBitLinearImpl(const torch::Tensor& w, const torch::Tensor& b, const BitNetOptions& options)
    : options_(options) {
  weight = register_parameter("weight", w.detach().clone(), /*requires_grad=*/false);
  if (b.defined()) bias = register_parameter("bias", b.detach().clone(), /*requires_grad=*/false);
}

torch::Tensor FrozenBitLinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = options_.input_norm ? bitnet_input_norm(x) : x;
  h = quantize_activations(h, options_.activation_bits);
  return torch::nn::functional::linear(h, weight.to(h.dtype()), bias.defined() ? bias.to(h.dtype()) : bias);
}

void freeze_as_bitnet(Transformer& model, const BitNetOptions& options) {
  for (const auto& item : model->model->layers->named_children()) {
    auto* layer = item.value()->as<DecoderLayerImpl>();
    auto swap = [&](torch::nn::Module& parent, const std::string& name, LinearLayer& slot) {
      std::shared_ptr<LinearLayerImpl> impl = std::make_shared<FrozenBitLinearImpl>(slot->weight, slot->bias, options);
      slot = LinearLayer(impl);
      parent.replace_module(name, slot.ptr());
    };
    auto& attn = *layer->self_attn;
    swap(attn, "q_proj", attn.q_proj);
    swap(attn, "k_proj", attn.k_proj);
    swap(attn, "v_proj", attn.v_proj);
    swap(attn, "o_proj", attn.o_proj);
    auto& mlp = *layer->mlp;
    swap(mlp, "gate_proj", mlp.gate_proj);
    swap(mlp, "up_proj", mlp.up_proj);
    swap(mlp, "down_proj", mlp.down_proj);
  }
}

Transformer build_stage1_model(const Stage1File& file, const std::string& where) {
  // The decoded tensors become the parameters (model_loader.cpp does the
  // same): one fp32 copy of the model at the peak, not two.
  file.config.validate(where);
  Transformer model(file.config);
  release_parameter_storage(model);
  release_free_memory();
  adopt_state_dict(model, decode_stage1(file, where), where);
  if (file.bitnet.enabled) {
    BitNetOptions options;
    options.activation_bits = file.bitnet.activation_bits;
    options.per_row_scale = file.bitnet.per_row_scale;
    options.scale_group = file.bitnet.scale_group;
    options.input_norm = file.bitnet.input_norm;
    validate_bitnet_options(options, where);
    freeze_as_bitnet(model, options);
  }
  model->eval();
  return model;
}

ModelEngine parse_model_engine(const std::string& name) {
  if (name == "auto") return ModelEngine::kAuto;
  if (name == "ternary") return ModelEngine::kTernary;
  if (name == "torch") return ModelEngine::kTorch;
  throw usage_error("--engine: expected auto, ternary or torch, got \"", name, "\"");
}

namespace {

// The tokenizer of a .stage1.pt: the explicit file, else the embedded one.
std::unique_ptr<Tokenizer> stage1_tokenizer(const std::string& path, const std::string& tokenizer_path,
                                            const ModelConfig& config, const std::string& kind, const std::string& bytes) {
  std::string where;
  std::unique_ptr<Tokenizer> tokenizer;
  if (!tokenizer_path.empty()) {
    where = tokenizer_path;
    tokenizer = load_tokenizer(tokenizer_path);
  } else {
    where = path + " (embedded " + kind + " tokenizer)";
    tokenizer = load_tokenizer_from_bytes(kind, bytes, where);
  }
  check_tokenizer_matches(config, *tokenizer, where, path);
  return tokenizer;
}

}  // namespace

LoadedModel open_model(const std::string& path, const std::string& tokenizer_path, torch::Device device,
                       ModelEngine engine) {
  if (gguf::is_gguf_file(path)) {
    // A GGUF file (stage1 export) runs on the engine only.
    if (engine == ModelEngine::kTorch) throw usage_error("'", path, "' is a GGUF file, which runs on the engine (--engine auto or ternary)");
    if (!device.is_cpu()) throw usage_error("GGUF files run on the engine, on the CPU; --device ", device.str(), " is not supported");
    LoadedModel out;
    out.checkpoint.format = "gguf";
    out.checkpoint.path = path;
    out.engine = gguf::load_gguf_model(path);
    out.checkpoint.config = out.engine->config;
    out.checkpoint.tokenizer_kind = out.engine->tokenizer_kind;
    out.checkpoint.tokenizer_bytes = out.engine->tokenizer_bytes;
    out.tokenizer = stage1_tokenizer(path, tokenizer_path, out.engine->config, out.engine->tokenizer_kind,
                                     out.engine->tokenizer_bytes);
    return out;
  }
  const bool stage1 = is_stage1_file(path);
  if (engine == ModelEngine::kTernary) {
    if (!stage1) {
      throw usage_error("--engine ternary runs .stage1.pt files; '", path, "' is not one (use --engine torch or auto)");
    }
    if (!device.is_cpu()) throw usage_error("--engine ternary runs on the CPU; use --engine torch for --device ", device.str());
  }
  if (!stage1) return load_model(path, tokenizer_path, device);
  LoadedModel out;
  out.checkpoint.format = "stage1";
  out.checkpoint.path = path;
  if (engine == ModelEngine::kTernary || (engine == ModelEngine::kAuto && device.is_cpu())) {
    out.engine = infer::load_model(path);
    out.checkpoint.config = out.engine->config;
    out.checkpoint.tokenizer_kind = out.engine->tokenizer_kind;
    out.checkpoint.tokenizer_bytes = out.engine->tokenizer_bytes;
    out.tokenizer = stage1_tokenizer(path, tokenizer_path, out.engine->config, out.engine->tokenizer_kind,
                                     out.engine->tokenizer_bytes);
    return out;
  }
  Stage1File file = read_stage1_file(path);
  out.checkpoint.config = file.config;
  out.checkpoint.tokenizer_kind = file.tokenizer_kind;
  out.checkpoint.tokenizer_bytes = file.tokenizer_bytes;
  out.tokenizer = stage1_tokenizer(path, tokenizer_path, file.config, file.tokenizer_kind, file.tokenizer_bytes);
  out.model = build_stage1_model(file, path);
  out.model->to(device);
  return out;
}

}  // namespace seedforge
