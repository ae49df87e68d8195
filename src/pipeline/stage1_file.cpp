// Reading and writing .stage1.pt files (layout in stage1_file.h and docs/FORMAT.md).
#include "pipeline/stage1_file.h"

#include <algorithm>
#include <filesystem>
#include <string_view>
#include <tuple>

#include "codec/seedlm_codec.h"
#include "codec/packed_levels.h"
#include "codec/ternary.h"
#include "common/error.h"
#include "io/pt_file.h"
#include "io/zip_archive.h"
#include "train/bit_linear.h"

namespace seedforge {

namespace {

PtValue int_list(const std::vector<int64_t>& values) {
  PtValue list = PtValue::new_list();
  for (int64_t v : values) list.append(PtValue::of_int(v));
  return list;
}

PtValue float_scalar(double value) { return PtValue::of_tensor(torch::tensor({value}, torch::kFloat64)); }

torch::Tensor bytes_tensor(const std::string& bytes) {
  auto t = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  if (!bytes.empty()) std::memcpy(t.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  return t;
}

std::string tensor_bytes(const torch::Tensor& t) {
  auto c = t.contiguous();
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), static_cast<size_t>(c.numel()));
}

PtValue config_dict(const ModelConfig& c) {
  PtValue d = PtValue::new_dict();
  d.set("architecture", PtValue::of_string(c.architecture));
  d.set("dim", PtValue::of_int(c.dim));
  d.set("hidden_dim", PtValue::of_int(c.hidden_dim));
  d.set("n_layers", PtValue::of_int(c.n_layers));
  d.set("n_heads", PtValue::of_int(c.n_heads));
  d.set("n_kv_heads", PtValue::of_int(c.n_kv_heads));
  d.set("vocab_size", PtValue::of_int(c.vocab_size));
  d.set("max_seq_len", PtValue::of_int(c.max_seq_len));
  d.set("rope_theta", float_scalar(c.rope_theta));
  d.set("norm_eps", float_scalar(c.norm_eps));
  d.set("tie_embeddings", PtValue::of_bool(c.tie_embeddings));
  d.set("attention_bias", PtValue::of_bool(c.attention_bias));
  d.set("bos_id", PtValue::of_int(c.bos_id));
  d.set("eos_id", PtValue::of_int(c.eos_id));
  return d;
}

// Field access with errors that name the file and the dotted field.
struct Reader {
  const std::string& path;
  const PtValue& at(const PtValue& dict, const std::string& key, const std::string& field) const {
    if (!dict.is(PtValue::Kind::kDict)) throw input_error("'", path, "': field '", field, "' is not a dict");
    const PtValue* v = dict.find(key);
    if (v == nullptr) throw input_error("'", path, "': missing field '", field.empty() ? key : field + "." + key, "'");
    return *v;
  }
  int64_t integer(const PtValue& dict, const std::string& key, const std::string& field) const {
    const PtValue& v = at(dict, key, field);
    if (!v.is(PtValue::Kind::kInt)) throw input_error("'", path, "': field '", field, ".", key, "' must be an int, got ", v.kind_name());
    return v.as_int();
  }
  bool boolean(const PtValue& dict, const std::string& key, const std::string& field) const {
    const PtValue& v = at(dict, key, field);
    if (!v.is(PtValue::Kind::kBool)) throw input_error("'", path, "': field '", field, ".", key, "' must be a bool, got ", v.kind_name());
    return v.as_bool();
  }
  std::string string(const PtValue& dict, const std::string& key, const std::string& field) const {
    const PtValue& v = at(dict, key, field);
    if (!v.is(PtValue::Kind::kString)) throw input_error("'", path, "': field '", field, ".", key, "' must be a string, got ", v.kind_name());
    return v.as_string();
  }
  torch::Tensor tensor(const PtValue& dict, const std::string& key, const std::string& field) const {
    const PtValue& v = at(dict, key, field);
    if (!v.is(PtValue::Kind::kTensor)) throw input_error("'", path, "': field '", field, ".", key, "' must be a tensor, got ", v.kind_name());
    return v.as_tensor();
  }
  double real(const PtValue& dict, const std::string& key, const std::string& field) const {
    auto t = tensor(dict, key, field);
    if (t.numel() != 1) throw input_error("'", path, "': field '", field, ".", key, "' must hold one value");
    return t.to(torch::kFloat64).item<double>();
  }
};

// Payloads and scales as views of one storage per dtype and codec (scales:
// per dtype), so that the zip holds a handful of records instead of two per
// tensor (each record costs about 150 bytes of headers and alignment: 15% of
// a 100 KB file). Each record holds one kind of bytes, so that deflate's
// Huffman codes fit it: levels get one record per level count, since bytes of
// three base-5 digits and bytes of two base-7 digits mixed in one record
// measured 4.3 KB larger than apart (stories260K, MLP at 7 levels, the rest at 5).
// A kind's bytes go on into a new record where the current one would pass
// max_record_bytes (kStage1MaxRecordBytes).
std::vector<Stage1Tensor> share_storages(const std::vector<Stage1Tensor>& tensors, int64_t max_record_bytes) {
  // dtype, kind, record number within the kind
  using PoolKey = std::tuple<torch::ScalarType, std::string, int>;
  using Kind = std::pair<torch::ScalarType, std::string>;
  std::map<Kind, std::pair<int, int64_t>> open;  // kind -> record number, its bytes so far
  // The record a tensor of `bytes` goes to, in the order tensors come.
  auto place = [&](const Kind& kind, int64_t bytes) {
    auto& [record, used] = open.try_emplace(kind, 0, 0).first->second;
    if (used > 0 && used + bytes > max_record_bytes) {
      ++record;
      used = 0;
    }
    used += bytes;
    return PoolKey{kind.first, kind.second, record};
  };
  auto bytes_of = [](const torch::Tensor& t) { return t.numel() * static_cast<int64_t>(t.element_size()); };
  auto payload_kind = [](const Stage1Tensor& t) {
    return Kind{t.payload.scalar_type(), t.codec == "levels" ? concat("levels", 2 * t.max_level + 1) : t.codec};
  };
  std::vector<PoolKey> scale_pool(tensors.size()), payload_pool(tensors.size());
  std::map<PoolKey, std::vector<torch::Tensor>> parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Stage1Tensor& t = tensors[i];
    if (t.scale.defined()) {
      scale_pool[i] = place(Kind{t.scale.scalar_type(), "scale"}, bytes_of(t.scale));
      parts[scale_pool[i]].push_back(t.scale.contiguous().reshape({-1}));
    }
    payload_pool[i] = place(payload_kind(t), bytes_of(t.payload));
    parts[payload_pool[i]].push_back(t.payload.contiguous().reshape({-1}));
  }
  std::map<PoolKey, torch::Tensor> pools;
  std::map<PoolKey, int64_t> offsets;
  for (auto& [key, list] : parts) pools[key] = torch::cat(list);
  auto view = [&](const torch::Tensor& t, const PoolKey& key) {
    const int64_t n = t.numel();
    auto v = pools[key].narrow(0, offsets[key], n).view(t.sizes());
    offsets[key] += n;
    return v;
  };
  std::vector<Stage1Tensor> out = tensors;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].scale.defined()) out[i].scale = view(out[i].scale, scale_pool[i]);
    out[i].payload = view(out[i].payload, payload_pool[i]);
  }
  return out;
}

}  // namespace

int64_t Stage1Tensor::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

int64_t Stage1Tensor::payload_bytes() const {
  int64_t bytes = payload.defined() ? payload.numel() * static_cast<int64_t>(payload.element_size()) : 0;
  if (scale.defined()) bytes += scale.numel() * static_cast<int64_t>(scale.element_size());
  return bytes;
}

void write_stage1_file(const std::string& path, const Stage1File& file, int64_t max_record_bytes) {
  PtValue root = PtValue::new_dict();
  root.set("format", PtValue::of_string(kStage1FormatName));
  bool needs_v2 = false, needs_v3 = false;
  for (const Stage1Tensor& t : file.tensors) {
    needs_v2 |= t.scale_group > 0 || (t.scale.defined() && t.scale.scalar_type() != torch::kFloat32);
    needs_v3 |= t.codec == "levels";
  }
  root.set("format_version", PtValue::of_int(needs_v3 ? 3 : needs_v2 ? 2 : 1));

  PtValue model = PtValue::new_dict();
  model.set("architecture", PtValue::of_string(file.config.architecture));
  model.set("config", config_dict(file.config));
  model.set("tokenizer_kind", PtValue::of_string(file.tokenizer_kind));
  model.set("tokenizer", PtValue::of_tensor(bytes_tensor(file.tokenizer_bytes)));
  root.set("model", std::move(model));

  PtValue tensors = PtValue::new_dict();
  for (const Stage1Tensor& t : share_storages(file.tensors, max_record_bytes)) {
    PtValue entry = PtValue::new_dict();
    entry.set("codec", PtValue::of_string(t.codec));
    entry.set("shape", int_list(t.shape));
    if (t.scale.defined()) entry.set("scale", PtValue::of_tensor(t.scale));
    if (t.scale_group > 0) entry.set("scale_group", PtValue::of_int(t.scale_group));
    if (t.codec == "levels") entry.set("max_level", PtValue::of_int(t.max_level));
    const char* payload_key = t.codec == "seedlm" ? "bits" : t.codec == "ternary" || t.codec == "levels" ? "packed" : "data";
    entry.set(payload_key, PtValue::of_tensor(t.payload));
    tensors.set(t.name, std::move(entry));
  }
  root.set("tensors", std::move(tensors));

  PtValue seedlm = PtValue::new_dict();
  seedlm.set("K", PtValue::of_int(file.seedlm.K));
  std::vector<int64_t> taps;
  for (int tap : file.seedlm.resolved_taps()) taps.push_back(tap);
  seedlm.set("taps", int_list(taps));
  seedlm.set("C", PtValue::of_int(file.seedlm.C));
  seedlm.set("P", PtValue::of_int(file.seedlm.P));
  seedlm.set("Q", PtValue::of_int(file.seedlm.Q));
  seedlm.set("E", PtValue::of_int(file.seedlm.E));
  PtValue codecs = PtValue::new_dict();
  codecs.set("seedlm", std::move(seedlm));
  root.set("codecs", std::move(codecs));

  PtValue bitnet = PtValue::new_dict();
  bitnet.set("enabled", PtValue::of_bool(file.bitnet.enabled));
  bitnet.set("activation_bits", PtValue::of_int(file.bitnet.activation_bits));
  bitnet.set("per_row_scale", PtValue::of_bool(file.bitnet.per_row_scale));
  bitnet.set("scale_group", PtValue::of_int(file.bitnet.scale_group));
  bitnet.set("input_norm", PtValue::of_bool(file.bitnet.input_norm));
  root.set("bitnet", std::move(bitnet));

  PtValue training = PtValue::new_dict();
  for (const auto& [key, value] : file.training) training.set(key, PtValue::of_int(value));
  root.set("training", std::move(training));
  root.set("metrics", PtValue::of_string(file.metrics_json));

  // Deflated where smaller: the levels codec's bytes (its digits are far from
  // uniform), the pickle and the tokenizer shrink; packed trits stay stored.
  write_pt_file(path, root, /*deflate_entries=*/true);
}

bool is_stage1_file(const std::string& path) {
  // Cheap: look for the format string in the pickle record only, without
  // reading the tensors (a multi-GB state dict must not be loaded twice).
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return false;
  try {
    ZipReader zip(path);
    for (const ZipEntry& entry : zip.entries()) {
      const std::string suffix = "/data.pkl";
      if (entry.name.size() < suffix.size() || entry.name.compare(entry.name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
      const char* bytes = reinterpret_cast<const char*>(zip.data(entry, /*verify_crc=*/false));
      return std::string_view(bytes, entry.size).find(kStage1FormatName) != std::string_view::npos;
    }
  } catch (const Error&) {
  }
  return false;
}

Stage1File read_stage1_file(const std::string& path) {
  const PtValue root = read_pt_file(path);
  const Reader r{path};
  if (!root.is(PtValue::Kind::kDict)) throw input_error("'", path, "': not a Stage-1 file (top level is a ", root.kind_name(), ")");
  const std::string format = r.string(root, "format", "");
  if (format != kStage1FormatName) {
    throw input_error("'", path, "': format is '", format, "', expected '", kStage1FormatName, "'");
  }
  const int64_t version = r.integer(root, "format_version", "");
  if (version < 1 || version > kStage1FormatVersion) {
    throw input_error("'", path, "': format_version ", version, " is not supported (this seedforge reads versions 1 to ",
                      kStage1FormatVersion, "); use a matching seedforge release");
  }
  Stage1File file;
  file.format_version = version;
  const PtValue& model = r.at(root, "model", "");
  const PtValue& cfg = r.at(model, "config", "model");
  ModelConfig& c = file.config;
  c.architecture = r.string(cfg, "architecture", "model.config");
  c.dim = r.integer(cfg, "dim", "model.config");
  c.hidden_dim = r.integer(cfg, "hidden_dim", "model.config");
  c.n_layers = r.integer(cfg, "n_layers", "model.config");
  c.n_heads = r.integer(cfg, "n_heads", "model.config");
  c.n_kv_heads = r.integer(cfg, "n_kv_heads", "model.config");
  c.vocab_size = r.integer(cfg, "vocab_size", "model.config");
  c.max_seq_len = r.integer(cfg, "max_seq_len", "model.config");
  c.rope_theta = r.real(cfg, "rope_theta", "model.config");
  c.norm_eps = r.real(cfg, "norm_eps", "model.config");
  c.tie_embeddings = r.boolean(cfg, "tie_embeddings", "model.config");
  c.attention_bias = r.boolean(cfg, "attention_bias", "model.config");
  c.bos_id = r.integer(cfg, "bos_id", "model.config");
  c.eos_id = r.integer(cfg, "eos_id", "model.config");
  c.validate(path);
  file.tokenizer_kind = r.string(model, "tokenizer_kind", "model");
  file.tokenizer_bytes = tensor_bytes(r.tensor(model, "tokenizer", "model").to(torch::kUInt8));

  const PtValue& seedlm = r.at(r.at(root, "codecs", ""), "seedlm", "codecs");
  file.seedlm.K = static_cast<int>(r.integer(seedlm, "K", "codecs.seedlm"));
  file.seedlm.C = static_cast<int>(r.integer(seedlm, "C", "codecs.seedlm"));
  file.seedlm.P = static_cast<int>(r.integer(seedlm, "P", "codecs.seedlm"));
  file.seedlm.Q = static_cast<int>(r.integer(seedlm, "Q", "codecs.seedlm"));
  file.seedlm.E = static_cast<int>(r.integer(seedlm, "E", "codecs.seedlm"));
  for (const PtValue& tap : r.at(seedlm, "taps", "codecs.seedlm").items()) file.seedlm.taps.push_back(static_cast<int>(tap.as_int()));
  try {
    file.seedlm.validate();
  } catch (const Error& e) {
    throw input_error("'", path, "': codecs.seedlm: ", e.what());
  }

  const PtValue& bitnet = r.at(root, "bitnet", "");
  file.bitnet.enabled = r.boolean(bitnet, "enabled", "bitnet");
  file.bitnet.activation_bits = static_cast<int>(r.integer(bitnet, "activation_bits", "bitnet"));
  file.bitnet.per_row_scale = r.boolean(bitnet, "per_row_scale", "bitnet");
  if (bitnet.find("scale_group") != nullptr) file.bitnet.scale_group = r.integer(bitnet, "scale_group", "bitnet");
  file.bitnet.input_norm = r.boolean(bitnet, "input_norm", "bitnet");
  for (const auto& [key, value] : r.at(root, "training", "").entries()) {
    if (key.is(PtValue::Kind::kString) && value.is(PtValue::Kind::kInt)) file.training[key.as_string()] = value.as_int();
  }
  file.metrics_json = r.string(root, "metrics", "");

  for (const auto& [key, entry] : r.at(root, "tensors", "").entries()) {
    if (!key.is(PtValue::Kind::kString)) throw input_error("'", path, "': tensors: a key is not a string");
    Stage1Tensor t;
    t.name = key.as_string();
    const std::string field = "tensors." + t.name;
    t.codec = r.string(entry, "codec", field);
    int64_t numel = 1;
    for (const PtValue& s : r.at(entry, "shape", field).items()) {
      if (!s.is(PtValue::Kind::kInt) || s.as_int() < 0) throw input_error("'", path, "': ", field, ".shape holds a non-size");
      t.shape.push_back(s.as_int());
      // Checked here so that numel() and the payload sizes derived from it cannot overflow.
      if (__builtin_mul_overflow(numel, s.as_int(), &numel) || numel > kStage1MaxTensorElements) {
        throw input_error("'", path, "': ", field, ".shape describes more than 2^40 values");
      }
    }
    if (t.codec == "seedlm") {
      t.scale = r.tensor(entry, "scale", field);
      t.payload = r.tensor(entry, "bits", field);
    } else if (t.codec == "ternary" || t.codec == "levels") {
      t.scale = r.tensor(entry, "scale", field);
      t.payload = r.tensor(entry, "packed", field);
      if (entry.find("scale_group") != nullptr) {
        t.scale_group = r.integer(entry, "scale_group", field);
        if (t.scale_group <= 0) throw input_error("'", path, "': ", field, ".scale_group must be > 0, got ", t.scale_group);
      }
      if (t.codec == "levels") {
        const int64_t level = r.integer(entry, "max_level", field);
        if (level < 1 || level > kMaxPackedLevel) {
          throw input_error("'", path, "': ", field, ".max_level must be in [1, ", kMaxPackedLevel, "], got ", level);
        }
        t.max_level = static_cast<int>(level);
      }
    } else if (t.codec == "int8") {
      t.scale = r.tensor(entry, "scale", field);
      t.payload = r.tensor(entry, "data", field);
    } else if (t.codec == "raw") {
      t.payload = r.tensor(entry, "data", field);
    } else {
      throw input_error("'", path, "': ", field, ": unknown codec '", t.codec, "' (known: seedlm, ternary, levels, int8, raw)");
    }
    file.tensors.push_back(std::move(t));
  }
  // Decode everything once now so that a corrupt payload is reported here, by name.
  decode_stage1(file, path);
  return file;
}

torch::Tensor decode_stage1_tensor(const Stage1Tensor& t, const SeedLMParams& seedlm, const std::string& where) {
  const int64_t n = t.numel();
  const std::string what = "'" + where + "': tensor '" + t.name + "' (" + t.codec + ")";
  auto check_scale = [&](int64_t expected_a, int64_t expected_b, bool fp16_allowed = false) {
    const bool dtype_ok = t.scale.defined() && (t.scale.scalar_type() == torch::kFloat32 ||
                                                (fp16_allowed && t.scale.scalar_type() == torch::kFloat16));
    if (!dtype_ok || (t.scale.numel() != expected_a && t.scale.numel() != expected_b)) {
      throw input_error(what, ": scale must be ", fp16_allowed ? "fp32 or fp16" : "fp32", " with ", expected_a,
                        expected_a != expected_b ? " or " + std::to_string(expected_b) : "", " values");
    }
  };
  auto payload_u8 = [&]() {
    if (t.payload.scalar_type() != torch::kUInt8) throw input_error(what, ": payload must be uint8");
    return t.payload.contiguous();
  };
  // Every branch checks the payload's size against the shape before allocating
  // anything of the shape's size: a corrupt shape must not cost its memory.
  torch::Tensor out;
  if (t.codec == "seedlm") {
    check_scale(1, 1);
    SeedLMTensor enc;
    enc.scale = t.scale.item<float>();
    enc.n_values = n;
    auto bytes = payload_u8();
    if (bytes.numel() != seedlm_stream_bytes(n, seedlm)) {
      throw input_error(what, ": payload holds ", bytes.numel(), " bytes, the shape needs ", seedlm_stream_bytes(n, seedlm));
    }
    out = torch::empty({n}, torch::kFloat32);
    enc.bits.assign(bytes.data_ptr<uint8_t>(), bytes.data_ptr<uint8_t>() + bytes.numel());
    try {
      seedlm_decode(enc, seedlm, out.data_ptr<float>());
    } catch (const Error& e) {
      throw input_error(what, ": ", e.what());
    }
  } else if (t.codec == "ternary" || t.codec == "levels") {
    if (t.shape.size() != 2) throw input_error(what, ": ", t.codec, " tensors must be 2-D");
    const int64_t rows = t.shape[0], cols = t.shape[1];
    if (t.scale_group > 0) {
      const int64_t count = TernaryScaleLayout(TernaryScaleMode::kPerRow, t.scale_group).scale_count(rows, cols);
      check_scale(count, count, true);
    } else {
      check_scale(1, rows, true);
    }
    auto bytes = payload_u8();
    const bool levels = t.codec == "levels";
    const int64_t needed = levels ? packed_levels_bytes(n, t.max_level) : trits_base3_bytes(n);
    if (bytes.numel() != needed) throw input_error(what, ": payload holds ", bytes.numel(), " bytes, the shape needs ", needed);
    std::vector<int8_t> trits(static_cast<size_t>(n));
    try {
      if (levels) {
        unpack_levels(bytes.data_ptr<uint8_t>(), static_cast<size_t>(bytes.numel()), n, t.max_level, trits.data());
      } else {
        unpack_trits_base3(bytes.data_ptr<uint8_t>(), static_cast<size_t>(bytes.numel()), n, trits.data());
      }
    } catch (const Error& e) {
      throw input_error(what, ": ", e.what());
    }
    auto trit_tensor = torch::from_blob(trits.data(), {rows, cols}, torch::kInt8).to(torch::kFloat32);
    torch::Tensor scale = t.scale.to(torch::kFloat32);
    if (t.scale_group > 0) {
      BitNetOptions grouped;  // how BitLinear spread these scales
      grouped.per_row_scale = true;
      // A group wider than the row is one scale per row; spreading by the stored
      // width instead would allocate rows x scale_group values (2^40 in a corrupt file).
      grouped.scale_group = std::min(t.scale_group, cols);
      scale = spread_scale(scale.view({rows, -1}), cols, grouped);
    } else {
      scale = t.scale.numel() == 1 ? scale.view({1, 1}) : scale.view({rows, 1});
    }
    out = (trit_tensor * scale).reshape({n});
  } else if (t.codec == "int8") {
    if (t.shape.size() != 2) throw input_error(what, ": int8 tensors must be 2-D");
    check_scale(t.shape[0], t.shape[0]);
    if (t.payload.scalar_type() != torch::kInt8 || t.payload.numel() != n) throw input_error(what, ": data must be int8 with ", n, " values");
    out = (t.payload.to(torch::kFloat32).view({t.shape[0], t.shape[1]}) * t.scale.view({-1, 1})).reshape({n});
  } else {
    if (t.payload.numel() != n) throw input_error(what, ": data holds ", t.payload.numel(), " values, shape says ", n);
    out = t.payload.to(torch::kFloat32).reshape({n});
  }
  if (!torch::isfinite(out).all().item<bool>()) throw input_error(what, ": decodes to NaN or Inf");
  return out.view(t.shape);
}

StateDict decode_stage1(const Stage1File& file, const std::string& where) {
  StateDict out;
  for (const Stage1Tensor& t : file.tensors) out.emplace_back(t.name, decode_stage1_tensor(t, file.seedlm, where));
  return out;
}

}  // namespace seedforge
