#include "io/hf_folder.h"

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"
#include "io/hf_config.h"
#include "io/pt_file.h"
#include "io/pt_state_dict.h"
#include "io/safetensors.h"
#include "model/parameter_shapes.h"

namespace seedforge {

namespace fs = std::filesystem;

namespace {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// Sharded pytorch_model.bin: {"weight_map": {name: shard}}; each shard a state dict.
StateDict read_pt_sharded(const fs::path& index_path) {
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(read_file_text(index_path.string()));
  } catch (const nlohmann::ordered_json::exception& e) {
    throw input_error("'", index_path.string(), "': not valid JSON: ", e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j.at("weight_map").is_object()) {
    throw input_error("'", index_path.string(), "': required field 'weight_map' (an object) is missing");
  }
  std::map<std::string, StateDict> shards;
  StateDict out;
  for (const auto& item : j.at("weight_map").items()) {
    const std::string shard = item.value().is_string() ? item.value().get<std::string>() : "";
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "..") {
      throw input_error("'", index_path.string(), "': weight_map entry '", item.key(), "' has a bad shard name");
    }
    auto it = shards.find(shard);
    if (it == shards.end()) {
      const std::string shard_path = (index_path.parent_path() / shard).string();
      it = shards.emplace(shard, find_state_dict(read_pt_file(shard_path), "'" + shard_path + "'")).first;
    }
    const torch::Tensor* t = nullptr;
    for (const auto& kv : it->second) {
      if (kv.first == item.key()) t = &kv.second;
    }
    if (t == nullptr) {
      throw input_error("'", index_path.string(), "': tensor '", item.key(), "' is not in its shard '", shard, "'");
    }
    out.emplace_back(item.key(), *t);
  }
  return out;
}

}  // namespace

Checkpoint load_hf_folder(const std::string& dir) {
  const fs::path folder(dir);
  const fs::path config_path = folder / "config.json";
  if (!is_file(config_path)) throw input_error("'", dir, "': Hugging Face model folder without config.json");
  Checkpoint ck;
  ck.config = read_hf_config(config_path.string());

  StateDict raw;
  std::string weights;
  if (is_file(folder / "model.safetensors")) {
    weights = (folder / "model.safetensors").string();
    raw = read_safetensors_weights_fp32(weights);
  } else if (is_file(folder / "model.safetensors.index.json")) {
    weights = (folder / "model.safetensors.index.json").string();
    raw = read_safetensors_sharded(weights, torch::kFloat32);
  } else if (is_file(folder / "pytorch_model.bin")) {
    weights = (folder / "pytorch_model.bin").string();
    raw = find_state_dict(read_pt_file(weights), "'" + weights + "'");
  } else if (is_file(folder / "pytorch_model.bin.index.json")) {
    weights = (folder / "pytorch_model.bin.index.json").string();
    raw = read_pt_sharded(folder / "pytorch_model.bin.index.json");
  } else {
    throw input_error("'", dir, "': no weights found (looked for model.safetensors, model.safetensors.index.json, "
                      "pytorch_model.bin, pytorch_model.bin.index.json)");
  }
  ck.tensors = canonical_state_dict(raw, "'" + weights + "'");
  raw.clear();
  check_config_matches(ck.config, ck.tensors, config_path.string(), "'" + weights + "'");
  ck.format = "hf";
  ck.path = dir;
  if (is_file(folder / "tokenizer.json") || is_file(folder / "tokenizer.model")) ck.tokenizer_path = dir;
  return ck;
}

Checkpoint read_hf_folder_header(const std::string& dir) {
  const fs::path folder(dir);
  const fs::path config_path = folder / "config.json";
  if (!is_file(config_path)) throw input_error("'", dir, "': Hugging Face model folder without config.json");
  Checkpoint ck;
  ck.config = read_hf_config(config_path.string());
  ck.format = "hf";
  ck.path = dir;
  if (is_file(folder / "tokenizer.json") || is_file(folder / "tokenizer.model")) ck.tokenizer_path = dir;

  // Safetensors headers say every tensor's shape without its data: the
  // config is checked against them. (.bin weights have no such header: a
  // plan of such a folder trusts config.json.)
  std::vector<SafetensorsEntry> entries;
  std::string weights;
  if (is_file(folder / "model.safetensors")) {
    weights = (folder / "model.safetensors").string();
    entries = SafetensorsReader(weights).entries();
  } else if (is_file(folder / "model.safetensors.index.json")) {
    weights = (folder / "model.safetensors.index.json").string();
    entries = read_safetensors_sharded_entries(weights);
  } else if (!is_file(folder / "pytorch_model.bin") && !is_file(folder / "pytorch_model.bin.index.json")) {
    throw input_error("'", dir, "': no weights found (looked for model.safetensors, model.safetensors.index.json, "
                      "pytorch_model.bin, pytorch_model.bin.index.json)");
  }
  if (!entries.empty()) {
    std::map<std::string, const SafetensorsEntry*> by_name;
    for (const auto& e : entries) by_name[e.name] = &e;
    for (const ParameterShape& p : parameter_shapes(ck.config)) {
      auto it = by_name.find(p.name);
      if (it == by_name.end()) {
        throw input_error("'", weights, "': tensor '", p.name, "' that ", config_path.string(), " implies is missing");
      }
      if (it->second->shape != p.shape) {
        throw input_error("'", weights, "': tensor '", p.name, "' has shape ", shape_string(it->second->shape), ", ",
                          config_path.string(), " implies ", shape_string(p.shape));
      }
    }
    // Stored in 16 bits, the projections narrow back exactly (narrow_exact_projections).
    bool narrow = true;
    for (const std::string& projection : projection_names(ck.config)) {
      const std::string& dtype = by_name.at(projection + ".weight")->dtype;
      narrow = narrow && (dtype == "BF16" || dtype == "F16");
    }
    ck.projection_bytes = narrow ? 2 : 4;
  }
  return ck;
}

void save_hf_folder(const std::string& dir, const ModelConfig& config, const StateDict& tensors) {
  config.validate("save_hf_folder('" + dir + "')");
  const std::string json = hf_config_json(config);
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) throw usage_error("output '", dir, "' exists and is not a folder");
    write_safetensors((fs::path(dir) / "model.safetensors").string(), tensors);
    write_file_atomic((fs::path(dir) / "config.json").string(), json.data(), json.size());
    return;
  }
  check_output_path_writable(dir);
  const std::string tmp = temporary_path_for(dir);
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec)) throw runtime_error("cannot create folder '", tmp, "': ", ec.message());
  try {
    write_file_atomic((fs::path(tmp) / "config.json").string(), json.data(), json.size());
    write_safetensors((fs::path(tmp) / "model.safetensors").string(), tensors);
    fs::rename(tmp, dir);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    throw runtime_error("cannot rename '", tmp, "' to '", dir, "': ", e.what());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace seedforge
