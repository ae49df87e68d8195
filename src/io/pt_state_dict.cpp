#include "io/pt_state_dict.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "common/error.h"
#include "io/hf_config.h"

namespace seedforge {

namespace {

constexpr const char* kEmbedName = "model.embed_tokens.weight";

bool is_tensor_dict(const PtValue& v) {
  if (!v.is(PtValue::Kind::kDict) || v.entries().empty()) return false;
  for (const auto& kv : v.entries()) {
    if (!kv.first.is(PtValue::Kind::kString) || !kv.second.is(PtValue::Kind::kTensor)) return false;
  }
  return true;
}

std::string key_list(const PtValue& dict) {
  std::ostringstream out;
  size_t n = 0;
  for (const auto& kv : dict.entries()) {
    if (n++ == 12) {
      out << ", ...";
      break;
    }
    if (n > 1) out << ", ";
    if (kv.first.is(PtValue::Kind::kString)) {
      out << "'" << kv.first.as_string() << "' (" << kv.second.kind_name() << ")";
    } else {
      out << kv.first.as_int() << " (" << kv.second.kind_name() << ")";
    }
  }
  return out.str();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const torch::Tensor* find_tensor(const StateDict& sd, const std::string& name) {
  for (const auto& kv : sd) {
    if (kv.first == name) return &kv.second;
  }
  return nullptr;
}

}  // namespace

StateDict find_state_dict(const PtValue& root, const std::string& where) {
  if (!root.is(PtValue::Kind::kDict)) {
    throw input_error(where, ": the saved object is a ", root.kind_name(), ", not a dict of tensors (state dict)");
  }
  const PtValue* found = nullptr;
  if (is_tensor_dict(root)) {
    found = &root;
  } else {
    for (const char* key : {"state_dict", "model", "module"}) {
      const PtValue* v = root.find(key);
      if (v != nullptr && is_tensor_dict(*v)) {
        found = v;
        break;
      }
    }
  }
  if (found == nullptr) {
    throw input_error(where, ": no state dict found: expected a dict of tensors, or one under 'state_dict', "
                      "'model' or 'module'; top-level entries are ", key_list(root));
  }
  StateDict out;
  out.reserve(found->entries().size());
  for (const auto& kv : found->entries()) out.emplace_back(kv.first.as_string(), kv.second.as_tensor());
  return out;
}

StateDict canonical_state_dict(const StateDict& raw, const std::string& where, torch::Tensor* inv_freq) {
  // Pick the wrapper prefix whose removal yields the canonical embedding name.
  static const char* kPrefixes[] = {"", "module.", "model.", "_orig_mod.", "module.model.", "_orig_mod.model.",
                                    "model.module."};
  const char* prefix = nullptr;
  for (const char* p : kPrefixes) {
    const std::string pre = p;
    for (const auto& kv : raw) {
      if (kv.first.compare(0, pre.size(), pre) == 0 && kv.first.substr(pre.size()) == kEmbedName) {
        prefix = p;
        break;
      }
    }
    if (prefix != nullptr) break;
  }
  if (prefix == nullptr) {
    std::ostringstream names;
    for (size_t i = 0; i < raw.size() && i < 6; ++i) names << (i ? ", " : "") << "'" << raw[i].first << "'";
    throw input_error(where, ": no tensor named '", kEmbedName,
                      "' (Hugging Face Llama naming, optionally under module./model./_orig_mod.); the state dict "
                      "has ", raw.size(), " tensors, starting with ", names.str());
  }
  const std::string pre = prefix;
  if (inv_freq != nullptr) *inv_freq = torch::Tensor();
  StateDict out;
  out.reserve(raw.size());
  std::set<std::string> seen;
  for (const auto& [original, tensor] : raw) {
    std::string name = original;
    if (!pre.empty() && name.compare(0, pre.size(), pre) == 0) name = name.substr(pre.size());
    if (ends_with(name, "rotary_emb.inv_freq")) {  // a buffer HF used to save; recomputed by the model
      if (inv_freq != nullptr && !inv_freq->defined()) *inv_freq = tensor.to(torch::kFloat64);
      continue;
    }
    if (!seen.insert(name).second) {
      throw input_error(where, ": tensor '", name, "' appears twice once the prefix '", pre, "' is removed");
    }
    const auto dtype = tensor.scalar_type();
    if (dtype != torch::kFloat32 && dtype != torch::kFloat16 && dtype != torch::kBFloat16 && dtype != torch::kFloat64) {
      throw input_error(where, ": tensor '", original, "' has dtype ", c10::toString(dtype),
                        "; expected float32, float16, bfloat16 or float64 weights");
    }
    out.emplace_back(name, tensor.to(torch::kFloat32).contiguous());
  }
  return out;
}

ModelConfig infer_model_config(const StateDict& sd, const torch::Tensor& inv_freq, const std::string& where) {
  auto need = [&](const std::string& name, int64_t dims) -> const torch::Tensor& {
    const torch::Tensor* t = find_tensor(sd, name);
    if (t == nullptr) throw input_error(where, ": tensor '", name, "' is missing");
    if (t->dim() != dims) throw input_error(where, ": tensor '", name, "' has ", t->dim(), " dims, expected ", dims);
    return *t;
  };
  ModelConfig c;
  c.architecture = "llama";
  const torch::Tensor& embed = need(kEmbedName, 2);
  c.vocab_size = embed.size(0);
  c.dim = embed.size(1);

  std::set<int64_t> layers;
  const std::string layer_prefix = "model.layers.";
  for (const auto& kv : sd) {
    if (kv.first.compare(0, layer_prefix.size(), layer_prefix) != 0) continue;
    const std::string rest = kv.first.substr(layer_prefix.size());
    const size_t dot = rest.find('.');
    try {
      size_t used = 0;
      const long long idx = std::stoll(rest.substr(0, dot), &used);
      if (used != dot || idx < 0) throw std::invalid_argument("bad index");
      layers.insert(idx);
    } catch (const std::exception&) {
      throw input_error(where, ": tensor '", kv.first, "' has no valid layer index");
    }
  }
  if (layers.empty()) throw input_error(where, ": no model.layers.* tensors");
  c.n_layers = static_cast<int64_t>(layers.size());
  if (*layers.rbegin() != c.n_layers - 1) {
    throw input_error(where, ": layer indices are not 0..", c.n_layers - 1, " (highest is ", *layers.rbegin(), ")");
  }
  const torch::Tensor& gate = need("model.layers.0.mlp.gate_proj.weight", 2);
  c.hidden_dim = gate.size(0);
  c.tie_embeddings = find_tensor(sd, "lm_head.weight") == nullptr;
  c.attention_bias = find_tensor(sd, "model.layers.0.self_attn.q_proj.bias") != nullptr;

  if (!inv_freq.defined() || inv_freq.dim() != 1 || inv_freq.numel() < 1) {
    throw input_error(where, ": the number of attention heads cannot be told from tensor shapes alone; put the "
                      "model's Hugging Face config.json (hidden_size, num_attention_heads, ...) beside the checkpoint");
  }
  const int64_t head_dim = 2 * inv_freq.numel();
  const int64_t q_rows = need("model.layers.0.self_attn.q_proj.weight", 2).size(0);
  const int64_t k_rows = need("model.layers.0.self_attn.k_proj.weight", 2).size(0);
  if (q_rows % head_dim != 0 || k_rows % head_dim != 0) {
    throw input_error(where, ": q_proj rows ", q_rows, " / k_proj rows ", k_rows,
                      " are not multiples of the head dim ", head_dim, " given by rotary_emb.inv_freq");
  }
  c.n_heads = q_rows / head_dim;
  c.n_kv_heads = k_rows / head_dim;
  // inv_freq[k] = theta^(-2k/D): the last entry gives theta most precisely.
  const int64_t k = inv_freq.numel() - 1;
  if (k >= 1) {
    const double last = inv_freq[k].item<double>();
    if (!(last > 0 && last < 1)) throw input_error(where, ": rotary_emb.inv_freq holds ", last, ", not in (0, 1)");
    double theta = std::exp(-std::log(last) * static_cast<double>(head_dim) / (2.0 * k));
    if (std::abs(theta - std::round(theta)) < 1e-5 * theta) theta = std::round(theta);  // fp32 round-off
    c.rope_theta = theta;
  }
  c.max_seq_len = 2048;
  c.norm_eps = 1e-5;
  c.validate(where);
  return c;
}

void check_config_matches(const ModelConfig& config, const StateDict& sd, const std::string& config_where,
                          const std::string& weights_where) {
  const torch::Tensor* embed = find_tensor(sd, kEmbedName);
  if (embed == nullptr) throw input_error(weights_where, ": tensor '", kEmbedName, "' is missing");
  if (embed->dim() != 2 || embed->size(0) != config.vocab_size || embed->size(1) != config.dim) {
    throw input_error(weights_where, ": '", kEmbedName, "' has shape ", embed->sizes(), " but ", config_where,
                      " says vocab_size ", config.vocab_size, ", hidden size ", config.dim,
                      " (is the config.json for another model?)");
  }
}

Checkpoint checkpoint_from_state_dict(const std::string& path, const std::string& format, const StateDict& raw) {
  const std::string where = "'" + path + "'";
  torch::Tensor inv_freq;
  Checkpoint ck;
  ck.tensors = canonical_state_dict(raw, where, &inv_freq);
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  const std::string config_path = (folder / "config.json").string();
  std::error_code ec;
  if (std::filesystem::is_regular_file(config_path, ec)) {
    ck.config = read_hf_config(config_path);
    check_config_matches(ck.config, ck.tensors, config_path, where);
  } else {
    ck.config = infer_model_config(ck.tensors, inv_freq, where);
  }
  ck.format = format;
  ck.path = path;
  for (const char* name : {"tokenizer.model", "tokenizer.json"}) {
    const std::string candidate = (folder / name).string();
    if (std::filesystem::is_regular_file(candidate, ec)) {
      ck.tokenizer_path = candidate;
      break;
    }
  }
  return ck;
}

Checkpoint load_pt_checkpoint(const std::string& path) {
  return checkpoint_from_state_dict(path, "pt", find_state_dict(read_pt_file(path), "'" + path + "'"));
}

void save_pt_state_dict(const std::string& path, const StateDict& tensors) {
  PtValue root = PtValue::new_dict();
  root.entries().reserve(tensors.size());
  std::set<std::string> names;
  for (const auto& [name, tensor] : tensors) {
    if (!names.insert(name).second) throw runtime_error("save_pt_state_dict('", path, "'): tensor '", name, "' given twice");
    root.entries().emplace_back(PtValue::of_string(name), PtValue::of_tensor(tensor));
  }
  write_pt_file(path, root);
}

}  // namespace seedforge
