// Stage1Config from and to JSON; the key list itself is in stage1_fields.h.
#include "config/stage1_config.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <type_traits>

#include "common/data_paths.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/text_sources.h"
#include "config/json_reader.h"
#include "config/stage1_fields.h"

namespace seedforge {

const std::vector<std::pair<LambdaSchedule, const char*>>& enum_names(LambdaSchedule) {
  static const std::vector<std::pair<LambdaSchedule, const char*>> names = {
      {LambdaSchedule::kLinear, "linear"}, {LambdaSchedule::kSigmoid, "sigmoid"}, {LambdaSchedule::kConstant, "constant"}};
  return names;
}
const std::vector<std::pair<LrSchedule, const char*>>& enum_names(LrSchedule) {
  static const std::vector<std::pair<LrSchedule, const char*>> names = {{LrSchedule::kCosine, "cosine"},
                                                                        {LrSchedule::kConstant, "constant"}};
  return names;
}
const std::vector<std::pair<TernaryEncoding, const char*>>& enum_names(TernaryEncoding) {
  static const std::vector<std::pair<TernaryEncoding, const char*>> names = {{TernaryEncoding::kPacked, "packed"},
                                                                             {TernaryEncoding::kSeedlm, "seedlm"}};
  return names;
}
const std::vector<std::pair<FloatEncoding, const char*>>& enum_names(FloatEncoding) {
  static const std::vector<std::pair<FloatEncoding, const char*>> names = {
      {FloatEncoding::kSeedlm, "seedlm"}, {FloatEncoding::kFp16, "fp16"}, {FloatEncoding::kInt8, "int8"}};
  return names;
}
const std::vector<std::pair<VectorEncoding, const char*>>& enum_names(VectorEncoding) {
  static const std::vector<std::pair<VectorEncoding, const char*>> names = {{VectorEncoding::kFp16, "fp16"},
                                                                            {VectorEncoding::kFp32, "fp32"}};
  return names;
}
const std::vector<std::pair<ScaleEncoding, const char*>>& enum_names(ScaleEncoding) {
  static const std::vector<std::pair<ScaleEncoding, const char*>> names = {{ScaleEncoding::kFp32, "fp32"},
                                                                           {ScaleEncoding::kFp16, "fp16"}};
  return names;
}
const std::vector<std::pair<Device, const char*>>& enum_names(Device) {
  static const std::vector<std::pair<Device, const char*>> names = {{Device::kCpu, "cpu"}, {Device::kCuda, "cuda"}};
  return names;
}

namespace {

template <typename Enum>
std::string enum_to_string(Enum value) {
  for (const auto& [e, name] : enum_names(value)) {
    if (e == value) return name;
  }
  throw runtime_error("enum value ", static_cast<int>(value), " has no JSON spelling");
}

// Reads each section over the defaults; unknown keys are checked at the end,
// once every known key has been seen, so that hints can point across sections.
class ReadVisitor {
 public:
  ReadVisitor(const nlohmann::json& root, std::string where) : root_(root), where_(std::move(where)) {}

  void section(const char* name) {
    const nlohmann::json* object = &empty_;
    const auto it = root_.find(name);
    if (it != root_.end()) {
      if (!it->is_object()) {
        throw usage_error(where_, ": '", name, "' must be an object, got ", it->type_name(), " ",
                          json_for_message(*it));
      }
      object = &*it;
    }
    sections_.push_back(name);
    readers_.emplace_back(*object, std::string(name) + ".", where_);
  }

  template <typename T>
  void field(const char* key, T& out) {
    if constexpr (std::is_enum_v<T>) {
      readers_.back().read_choice(key, out, enum_names(out));
    } else {
      readers_.back().read(key, out);
    }
  }

  void check_unknown_keys() const {
    std::vector<std::string> known;
    for (const JsonSectionReader& reader : readers_) {
      for (const std::string& key : reader.known_keys()) known.push_back(key);
    }
    for (const auto& item : root_.items()) {
      if (std::find(sections_.begin(), sections_.end(), item.key()) == sections_.end()) {
        throw_unknown(item.key(), sections_, known);
      }
    }
    for (const JsonSectionReader& reader : readers_) {
      for (const std::string& key : reader.unread_keys()) throw_unknown(key, known, known);
    }
  }

 private:
  // `candidates` for the edit-distance hint; `known` dotted keys for the
  // "right key, wrong section" hint (e.g. bitnet.block_size -> seedlm.block_size).
  [[noreturn]] void throw_unknown(const std::string& key, const std::vector<std::string>& candidates,
                                  const std::vector<std::string>& known) const {
    const std::string leaf = key.substr(key.rfind('.') == std::string::npos ? 0 : key.rfind('.') + 1);
    std::string hint;
    for (const std::string& k : known) {
      if (k.substr(k.rfind('.') + 1) == leaf) {
        hint = k;
        break;
      }
    }
    // A plausible typo: about one edit per three characters of the last part.
    if (hint.empty()) hint = closest_key(key, candidates, std::max<size_t>(1, leaf.size() / 3));
    if (hint.empty()) throw usage_error(where_, ": unknown key '", key, "'");
    throw usage_error(where_, ": unknown key '", key, "' (did you mean '", hint, "'?)");
  }

  const nlohmann::json& root_;
  std::string where_;
  const nlohmann::json empty_ = nlohmann::json::object();
  std::vector<std::string> sections_;
  std::deque<JsonSectionReader> readers_;  // deque: stable references
};

class WriteVisitor {
 public:
  void section(const char* name) {
    root_[name] = nlohmann::json::object();
    current_ = &root_[name];
  }

  template <typename T>
  void field(const char* key, const T& value) {
    if constexpr (std::is_enum_v<T>) {
      (*current_)[key] = enum_to_string(value);
    } else {
      (*current_)[key] = value;
    }
  }

  nlohmann::json take() { return std::move(root_); }

 private:
  nlohmann::json root_ = nlohmann::json::object();
  nlohmann::json* current_ = nullptr;
};

}  // namespace

std::string to_string(LambdaSchedule value) { return enum_to_string(value); }
std::string to_string(LrSchedule value) { return enum_to_string(value); }
std::string to_string(TernaryEncoding value) { return enum_to_string(value); }
std::string to_string(FloatEncoding value) { return enum_to_string(value); }
std::string to_string(VectorEncoding value) { return enum_to_string(value); }
std::string to_string(ScaleEncoding value) { return enum_to_string(value); }
std::string to_string(Device value) { return enum_to_string(value); }

Stage1Config default_stage1_config() { return Stage1Config{}; }

Stage1Config parse_stage1_config(const std::string& json_text, const std::string& where) {
  const nlohmann::json root = parse_json_strict(json_text, where);
  if (!root.is_object()) {
    throw usage_error(where, ": the config must be a JSON object {...}, got ", root.type_name());
  }
  Stage1Config config = default_stage1_config();
  ReadVisitor reader(root, where);
  visit_stage1_fields(reader, config);
  reader.check_unknown_keys();
  validate(config, where);
  return config;
}

Stage1Config load_stage1_config(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw input_error("config file '", path, "' does not exist");
  if (std::filesystem::is_directory(path, ec)) throw input_error("config file '", path, "' is a folder");
  return parse_stage1_config(read_file_text(path), path);
}

nlohmann::json to_json(const Stage1Config& config) {
  WriteVisitor writer;
  visit_stage1_fields(writer, config);
  return writer.take();
}

std::string config_fingerprint(const Stage1Config& config) {
  nlohmann::json j = to_json(config);
  // Settings that change how a run is watched or where it writes, not what
  // it produces (see the header).
  j["bitnet"].erase("eval_every");
  j["bitnet"].erase("checkpoint_every");
  j["bitnet"].erase("checkpoint_dir");
  j["bitnet"].erase("token_cache_dir");
  j["bitnet"].erase("teacher_cache_mb");
  j["seedlm"].erase("threads");
  j.erase("eval");
  j.erase("hardware");
  j.erase("output");
  // nlohmann::json objects are key-sorted and numbers dump in shortest
  // round-trip form, so the dump is canonical.
  const std::string text = j.dump();
  uint64_t hash = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (const unsigned char byte : text) {
    hash ^= byte;
    hash *= 1099511628211ull;  // FNV-1a 64 prime
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

namespace {

// A relative train_text entry that names nothing from the current folder is
// looked up in the data folder (SEEDFORGE_DATA), so that a shipped config can
// name "text/tinystories/train_more.txt" wherever the data lives. An entry
// found in neither is kept as written, for the error to name it.
std::string in_data_folder_if_missing(const std::string& entry) {
  namespace fs = std::filesystem;
  const fs::path path(entry);
  if (path.empty() || path.is_absolute()) return entry;
  const bool glob = path.filename().string().find_first_of("*?[") != std::string::npos;
  auto probe = [&](const fs::path& p) {
    const fs::path named = glob ? p.parent_path() : p;
    std::error_code ec;
    return fs::exists(named.empty() ? fs::path(".") : named, ec);
  };
  if (probe(path)) return entry;
  const std::string in_data = data_path(entry);
  return probe(in_data) ? in_data : entry;
}

}  // namespace

std::vector<std::string> resolve_train_text(const Stage1Config& config) {
  std::vector<std::string> entries;
  for (const std::string& e : config.bitnet.train_text) entries.push_back(in_data_folder_if_missing(e));
  if (entries.empty()) entries.push_back(data_path("text/tinystories/train.txt"));
  const std::vector<std::string> files = expand_text_sources(entries, "bitnet.train_text");
  check_disjoint_from(files, "bitnet.train_text", resolve_eval_text(config), "eval.text");
  return files;
}

std::string resolve_eval_text(const Stage1Config& config) {
  return config.eval.text.empty() ? data_path("text/tinystories/valid.txt") : config.eval.text;
}

std::string resolve_log_file(const Stage1Config& config, const std::string& output_path) {
  if (!config.output.log_file.empty()) return config.output.log_file;
  const std::filesystem::path folder = std::filesystem::path(output_path).parent_path();
  return (folder.empty() ? std::filesystem::path("stage1_compression.log") : folder / "stage1_compression.log")
      .string();
}

}  // namespace seedforge
