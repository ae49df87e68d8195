#include "io/hf_config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"

namespace seedforge {

namespace {

using nlohmann::json;

bool present(const json& j, const char* key) { return j.contains(key) && !j.at(key).is_null(); }

int64_t get_int(const json& j, const char* key, const std::string& where) {
  if (!present(j, key)) throw input_error(where, ": required field '", key, "' is missing");
  const json& v = j.at(key);
  if (!v.is_number_integer()) throw input_error(where, ": field '", key, "' must be an integer, got ", v.dump());
  return v.get<int64_t>();
}

int64_t get_int_or(const json& j, const char* key, int64_t fallback, const std::string& where) {
  return present(j, key) ? get_int(j, key, where) : fallback;
}

double get_double_or(const json& j, const char* key, double fallback, const std::string& where) {
  if (!present(j, key)) return fallback;
  const json& v = j.at(key);
  if (!v.is_number()) throw input_error(where, ": field '", key, "' must be a number, got ", v.dump());
  return v.get<double>();
}

bool get_bool_or(const json& j, const char* key, bool fallback, const std::string& where) {
  if (!present(j, key)) return fallback;
  const json& v = j.at(key);
  if (!v.is_boolean()) throw input_error(where, ": field '", key, "' must be true or false, got ", v.dump());
  return v.get<bool>();
}

// bos/eos ids: an int, a list of ints (first one used), or null.
int64_t get_token_id(const json& j, const char* key, int64_t fallback, const std::string& where) {
  if (!j.contains(key)) return fallback;
  const json& v = j.at(key);
  if (v.is_null()) return -1;
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_array() && !v.empty() && v.at(0).is_number_integer()) return v.at(0).get<int64_t>();
  throw input_error(where, ": field '", key, "' must be an integer or a list of integers, got ", v.dump());
}

std::string architecture_of(const json& j, const std::string& where) {
  if (present(j, "architectures")) {
    const json& a = j.at("architectures");
    if (!a.is_array() || a.empty() || !a.at(0).is_string()) {
      throw input_error(where, ": field 'architectures' must be a non-empty list of strings, got ", a.dump());
    }
    const std::string name = a.at(0).get<std::string>();
    if (name == "LlamaForCausalLM") return "llama";
    if (name == "MistralForCausalLM") return "mistral";
    if (name == "Qwen2ForCausalLM") return "qwen2";
    throw input_error(where, ": architecture '", name,
                      "' is not supported (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)");
  }
  if (present(j, "model_type")) {
    const std::string type = j.at("model_type").is_string() ? j.at("model_type").get<std::string>() : "";
    if (type == "llama" || type == "mistral" || type == "qwen2") return type;
    throw input_error(where, ": model_type '", j.at("model_type").dump(),
                      "' is not supported (supported: llama, mistral, qwen2)");
  }
  throw input_error(where, ": required field 'architectures' is missing (and there is no 'model_type')");
}

}  // namespace

ModelConfig parse_hf_config(const std::string& json_text, const std::string& where) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number beyond double (1e605)
    throw input_error(where, ": not valid JSON: ", e.what());
  }
  if (!j.is_object()) throw input_error(where, ": expected a JSON object at the top level");

  ModelConfig c;
  c.architecture = architecture_of(j, where);
  const bool qwen2 = c.architecture == "qwen2";
  c.dim = get_int(j, "hidden_size", where);
  c.hidden_dim = get_int(j, "intermediate_size", where);
  c.n_layers = get_int(j, "num_hidden_layers", where);
  c.n_heads = get_int(j, "num_attention_heads", where);
  c.vocab_size = get_int(j, "vocab_size", where);
  c.n_kv_heads = get_int_or(j, "num_key_value_heads", c.n_heads, where);
  c.max_seq_len = get_int_or(j, "max_position_embeddings", c.architecture == "llama" ? 2048 : 32768, where);
  c.rope_theta = get_double_or(j, "rope_theta", 10000.0, where);
  c.norm_eps = get_double_or(j, "rms_norm_eps", 1e-6, where);
  c.tie_embeddings = get_bool_or(j, "tie_word_embeddings", false, where);
  c.attention_bias = qwen2 ? true : get_bool_or(j, "attention_bias", false, where);
  c.bos_id = get_token_id(j, "bos_token_id", qwen2 ? -1 : 1, where);
  c.eos_id = get_token_id(j, "eos_token_id", qwen2 ? -1 : 2, where);

  if (present(j, "rope_scaling")) {
    throw input_error(where, ": field 'rope_scaling' = ", j.at("rope_scaling").dump(),
                      " is not supported (only plain RoPE)");
  }
  if (present(j, "hidden_act")) {
    const json& act = j.at("hidden_act");
    if (!act.is_string() || act.get<std::string>() != "silu") {
      throw input_error(where, ": field 'hidden_act' = ", act.dump(), " is not supported (only \"silu\")");
    }
  }
  if (present(j, "quantization_config")) {
    throw input_error(where, ": quantized checkpoints (field 'quantization_config') are not supported");
  }
  if (get_bool_or(j, "mlp_bias", false, where)) {
    throw input_error(where, ": field 'mlp_bias' = true is not supported");
  }
  if (qwen2 && get_bool_or(j, "use_sliding_window", false, where)) {
    throw input_error(where, ": field 'use_sliding_window' = true is not supported");
  }
  if (present(j, "head_dim") && c.n_heads > 0) {
    const int64_t head_dim = get_int(j, "head_dim", where);
    if (head_dim * c.n_heads != c.dim) {
      throw input_error(where, ": field 'head_dim' = ", head_dim, " differs from hidden_size / num_attention_heads = ",
                        c.dim, " / ", c.n_heads, "; such models are not supported");
    }
  }
  c.validate(where);
  return c;
}

ModelConfig read_hf_config(const std::string& config_path) {
  return parse_hf_config(read_file_text(config_path), config_path);
}

std::string hf_config_json(const ModelConfig& c) {
  const bool qwen2 = c.attention_bias;
  nlohmann::ordered_json j;
  j["architectures"] = {qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
  j["model_type"] = qwen2 ? "qwen2" : "llama";
  j["hidden_size"] = c.dim;
  j["intermediate_size"] = c.hidden_dim;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["num_key_value_heads"] = c.n_kv_heads;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.max_seq_len;
  j["rope_theta"] = c.rope_theta;
  j["rms_norm_eps"] = c.norm_eps;
  j["tie_word_embeddings"] = c.tie_embeddings;
  if (!qwen2) j["attention_bias"] = false;
  if (qwen2) j["use_sliding_window"] = false;
  j["hidden_act"] = "silu";
  j["rope_scaling"] = nullptr;
  j["bos_token_id"] = c.bos_id >= 0 ? nlohmann::ordered_json(c.bos_id) : nlohmann::ordered_json(nullptr);
  j["eos_token_id"] = c.eos_id >= 0 ? nlohmann::ordered_json(c.eos_id) : nlohmann::ordered_json(nullptr);
  j["torch_dtype"] = "float32";
  return j.dump(2) + "\n";
}

}  // namespace seedforge
