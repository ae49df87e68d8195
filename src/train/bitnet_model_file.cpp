#include "train/bitnet_model_file.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"

namespace seedforge {

namespace {

nlohmann::ordered_json config_json(const ModelConfig& c) {
  return {{"architecture", c.architecture}, {"dim", c.dim}, {"hidden_dim", c.hidden_dim}, {"n_layers", c.n_layers},
          {"n_heads", c.n_heads}, {"n_kv_heads", c.n_kv_heads}, {"vocab_size", c.vocab_size},
          {"max_seq_len", c.max_seq_len}, {"rope_theta", c.rope_theta}, {"norm_eps", c.norm_eps},
          {"tie_embeddings", c.tie_embeddings}, {"attention_bias", c.attention_bias}, {"bos_id", c.bos_id},
          {"eos_id", c.eos_id}};
}

template <typename T>
void take(const nlohmann::json& j, const char* key, T& out, const std::string& where) {
  if (!j.contains(key)) throw input_error(where, ": key '", key, "' is missing");
  try {
    out = j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw input_error(where, ": key '", key, "' has the wrong type: ", e.what());
  }
}

ModelConfig config_from_json(const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw input_error(where, ": invalid JSON: ", e.what());
  }
  ModelConfig c;
  take(j, "architecture", c.architecture, where);
  take(j, "dim", c.dim, where);
  take(j, "hidden_dim", c.hidden_dim, where);
  take(j, "n_layers", c.n_layers, where);
  take(j, "n_heads", c.n_heads, where);
  take(j, "n_kv_heads", c.n_kv_heads, where);
  take(j, "vocab_size", c.vocab_size, where);
  take(j, "max_seq_len", c.max_seq_len, where);
  take(j, "rope_theta", c.rope_theta, where);
  take(j, "norm_eps", c.norm_eps, where);
  take(j, "tie_embeddings", c.tie_embeddings, where);
  take(j, "attention_bias", c.attention_bias, where);
  take(j, "bos_id", c.bos_id, where);
  take(j, "eos_id", c.eos_id, where);
  c.validate(where);
  return c;
}

c10::IValue read_value(torch::serialize::InputArchive& archive, const std::string& path, const std::string& key) {
  c10::IValue value;
  if (!archive.try_read(key, value)) throw input_error(path, ": key '", key, "' is missing");
  return value;
}

std::string read_string(torch::serialize::InputArchive& archive, const std::string& path, const std::string& key) {
  const c10::IValue v = read_value(archive, path, key);
  if (!v.isString()) throw input_error(path, ": key '", key, "' should be a string, got ", v.tagKind());
  return v.toStringRef();
}

std::vector<std::string> read_names(torch::serialize::InputArchive& archive, const std::string& path,
                                    const std::string& key) {
  const c10::IValue v = read_value(archive, path, key);
  if (!v.isList()) throw input_error(path, ": key '", key, "' should be a list of names, got ", v.tagKind());
  std::vector<std::string> out;
  for (const auto& item : v.toListRef()) {
    if (!item.isString()) throw input_error(path, ": key '", key, "' holds a non-string");
    out.push_back(item.toStringRef());
  }
  return out;
}

std::vector<torch::Tensor> read_tensors(torch::serialize::InputArchive& archive, const std::string& path,
                                        const std::string& key, size_t expected) {
  const c10::IValue v = read_value(archive, path, key);
  if (!v.isTensorList()) throw input_error(path, ": key '", key, "' should be a list of tensors, got ", v.tagKind());
  std::vector<torch::Tensor> out = v.toTensorVector();
  if (out.size() != expected) throw input_error(path, ": key '", key, "' holds ", out.size(), " tensors, expected ", expected);
  return out;
}

}  // namespace

void save_bitnet_model(const std::string& path, const Transformer& model, const std::string& train_options_json,
                       const std::string& tokenizer_kind, const std::string& tokenizer_bytes) {
  const BitNetOptions options = bitnet_options_of(model);
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(std::string(kBitNetModelFormat)));
  archive.write("version", c10::IValue(kBitNetModelVersion));
  archive.write("config", c10::IValue(config_json(model->config()).dump()));
  nlohmann::ordered_json bitnet = {{"activation_bits", options.activation_bits},
                                         {"per_row_scale", options.per_row_scale},
                                         {"scale_group", options.scale_group},
                                         {"fp16_scales", options.fp16_scales},
                                         {"input_norm", options.input_norm},
                                         {"learned_scales", options.learned_scales},
                                         {"ternary_eps", kTernaryEps}};
  // The projections that keep more levels than three (projection_levels.h), by name.
  nlohmann::ordered_json levels = nlohmann::ordered_json::object();
  for (const auto& [name, layer] : bit_linear_layers(model)) {
    if (layer->options().max_level > 1) levels[name] = layer->options().max_level;
  }
  if (!levels.empty()) bitnet["max_levels"] = levels;
  archive.write("bitnet", c10::IValue(bitnet.dump()));
  archive.write("train_options", c10::IValue(train_options_json));
  archive.write("tokenizer_kind", c10::IValue(tokenizer_kind));
  torch::Tensor bytes = torch::empty({static_cast<int64_t>(tokenizer_bytes.size())}, torch::kUInt8);
  std::memcpy(bytes.data_ptr<uint8_t>(), tokenizer_bytes.data(), tokenizer_bytes.size());
  archive.write("tokenizer_bytes", c10::IValue(bytes));

  c10::List<std::string> latent_names, ternary_names;
  c10::List<torch::Tensor> latent_values, trits, scales;
  for (const auto& [name, tensor] : model_state_dict(model)) {
    latent_names.push_back(name);
    latent_values.push_back(tensor.to(torch::kCPU, torch::kFloat32).contiguous());
  }
  for (const TernaryWeight& t : ternary_weights(model)) {
    ternary_names.push_back(t.name);
    trits.push_back(t.trits);
    scales.push_back(t.scale);
  }
  archive.write("latent_names", c10::IValue(latent_names));
  archive.write("latent_values", c10::IValue(latent_values));
  archive.write("ternary_names", c10::IValue(ternary_names));
  archive.write("ternary_trits", c10::IValue(trits));
  archive.write("ternary_scales", c10::IValue(scales));

  check_output_path_writable(path);
  const std::string tmp = temporary_path_for(path);
  try {
    archive.save_to(tmp);
    std::filesystem::rename(tmp, path);
  } catch (const std::exception& e) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw runtime_error("could not write ", path, ": ", e.what());
  }
}

BitNetModel load_bitnet_model(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw input_error(path, ": BitNet model file missing");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw input_error(path, ": not a readable seedforge BitNet model: ", e.what_without_backtrace());
  }
  const std::string format = read_string(archive, path, "format");
  if (format != kBitNetModelFormat) throw input_error(path, ": format is '", format, "', expected '", kBitNetModelFormat, "'");
  const c10::IValue version = read_value(archive, path, "version");
  if (!version.isInt() || version.toInt() != kBitNetModelVersion) {
    throw input_error(path, ": unsupported version (this build reads ", kBitNetModelVersion, ")");
  }
  const ModelConfig config = config_from_json(read_string(archive, path, "config"), path + " config");

  BitNetModel out;
  const std::string bitnet_where = path + " bitnet";
  nlohmann::json bitnet;
  try {
    bitnet = nlohmann::json::parse(read_string(archive, path, "bitnet"));
  } catch (const nlohmann::json::exception& e) {
    throw input_error(bitnet_where, ": invalid JSON: ", e.what());
  }
  take(bitnet, "activation_bits", out.options.activation_bits, bitnet_where);
  take(bitnet, "per_row_scale", out.options.per_row_scale, bitnet_where);
  // Absent from files written before column groups and fp16 scales existed.
  if (bitnet.contains("scale_group")) take(bitnet, "scale_group", out.options.scale_group, bitnet_where);
  if (bitnet.contains("fp16_scales")) take(bitnet, "fp16_scales", out.options.fp16_scales, bitnet_where);
  take(bitnet, "input_norm", out.options.input_norm, bitnet_where);
  if (bitnet.contains("learned_scales")) take(bitnet, "learned_scales", out.options.learned_scales, bitnet_where);
  float eps = 0.0f;
  take(bitnet, "ternary_eps", eps, bitnet_where);
  if (eps != kTernaryEps) throw input_error(bitnet_where, ": ternary_eps ", eps, " differs from this build's ", kTernaryEps);
  validate_bitnet_options(out.options, bitnet_where);
  out.train_options_json = read_string(archive, path, "train_options");
  out.tokenizer_kind = read_string(archive, path, "tokenizer_kind");
  const c10::IValue bytes = read_value(archive, path, "tokenizer_bytes");
  if (!bytes.isTensor() || bytes.toTensor().scalar_type() != torch::kUInt8 || bytes.toTensor().dim() != 1) {
    throw input_error(path, ": tokenizer_bytes should be a 1-d uint8 tensor");
  }
  const torch::Tensor b = bytes.toTensor().contiguous();
  out.tokenizer_bytes.assign(reinterpret_cast<const char*>(b.data_ptr<uint8_t>()), static_cast<size_t>(b.numel()));

  const std::vector<std::string> latent_names = read_names(archive, path, "latent_names");
  const std::vector<torch::Tensor> latent_values = read_tensors(archive, path, "latent_values", latent_names.size());
  // Learned scale gains belong to the BitLinear layers, which exist only after conversion.
  StateDict latent, gains;
  for (size_t i = 0; i < latent_names.size(); ++i) {
    (is_scale_gain(latent_names[i]) ? gains : latent).emplace_back(latent_names[i], latent_values[i]);
  }
  out.model = build_model(config, latent, path);
  convert_to_bitnet(out.model, out.options);
  {
    torch::NoGradGuard no_grad;
    auto named = out.model->named_parameters(/*recurse=*/true);
    for (const auto& [name, value] : gains) {
      torch::Tensor* p = named.find(name);
      if (p == nullptr || !p->sizes().equals(value.sizes())) throw input_error(path, ": unexpected tensor '", name, "'");
      p->copy_(value);
    }
  }
  if (bitnet.contains("max_levels")) {
    const nlohmann::json& levels = bitnet["max_levels"];
    if (!levels.is_object()) throw input_error(bitnet_where, ": max_levels is not an object");
    for (const auto& [name, layer] : bit_linear_layers(out.model)) {
      if (!levels.contains(name)) continue;
      if (!levels[name].is_number_integer()) throw input_error(bitnet_where, ": max_levels.", name, " is not an integer");
      const int level = levels[name].get<int>();
      if (level < 1 || level > kMaxWeightLevel) {
        throw input_error(bitnet_where, ": max_levels.", name, " must be in [1, ", kMaxWeightLevel, "], got ", level);
      }
      layer->set_max_level(level);
    }
  }
  set_bitnet_lambda(out.model, 1.0);
  out.model->eval();

  // The stored ternary form must be what the latent weights give.
  const std::vector<std::string> names = read_names(archive, path, "ternary_names");
  const std::vector<torch::Tensor> trits = read_tensors(archive, path, "ternary_trits", names.size());
  const std::vector<torch::Tensor> scales = read_tensors(archive, path, "ternary_scales", names.size());
  const std::vector<TernaryWeight> expected = ternary_weights(out.model);
  if (names.size() != expected.size()) {
    throw input_error(path, ": ", names.size(), " ternary tensors, expected ", expected.size());
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    if (names[i] != expected[i].name) {
      throw input_error(path, ": ternary tensor ", i, " is '", names[i], "', expected '", expected[i].name, "'");
    }
    if (!trits[i].sizes().equals(expected[i].trits.sizes()) || trits[i].scalar_type() != torch::kInt8 ||
        !torch::equal(trits[i], expected[i].trits)) {
      throw input_error(path, ": trits of '", names[i], "' do not match its latent weights (corrupt file?)");
    }
    if (!scales[i].sizes().equals(expected[i].scale.sizes()) || !torch::equal(scales[i], expected[i].scale)) {
      throw input_error(path, ": scale of '", names[i], "' does not match its latent weights (corrupt file?)");
    }
  }
  return out;
}

}  // namespace seedforge
