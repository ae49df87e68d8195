// GGUF summary for `stage1 inspect` (gguf_inspect.h).
#include "gguf/gguf_inspect.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gguf/gguf_file.h"

namespace seedforge::gguf {

namespace {

nlohmann::json to_json(const Value& v) {
  switch (v.type) {
    case ValueType::kF32:
    case ValueType::kF64: return v.real;
    case ValueType::kBool: return v.integer != 0;
    case ValueType::kString: return v.string;
    case ValueType::kArray: {
      nlohmann::json shown = nlohmann::json::array();
      if (v.element_type == ValueType::kU8) {
        for (size_t i = 0; i < v.string.size() && i < 8; ++i) shown.push_back(static_cast<uint8_t>(v.string[i]));
        if (v.string.size() <= 8) return shown;
        return {{"type", "array of u8"}, {"length", v.string.size()}, {"first", shown}};
      }
      for (size_t i = 0; i < v.array.size() && i < 8; ++i) shown.push_back(to_json(v.array[i]));
      if (v.array.size() <= 8) return shown;
      return {{"type", std::string("array of ") + value_type_name(v.element_type)}, {"length", v.array.size()}, {"first", shown}};
    }
    default: return v.integer;
  }
}

}  // namespace

std::string inspect_gguf(const std::string& path, bool json) {
  const File f(path);
  const Contents& c = f.contents();
  int64_t values = 0;
  nlohmann::json tensors = nlohmann::json::array();
  for (const TensorInfo& t : c.tensors) {
    values += t.values();
    tensors.push_back({{"name", t.name}, {"type", ggml_type_name(static_cast<uint32_t>(t.type))}, {"ne", t.ne}, {"bytes", t.bytes},
                       {"bits_per_weight", double(t.bytes) * 8 / double(std::max<int64_t>(t.values(), 1))}});
  }
  nlohmann::json metadata = nlohmann::json::object();
  for (const auto& [key, value] : c.metadata) metadata[key] = to_json(value);
  if (json) {
    const nlohmann::json j = {{"file", path},        {"file_bytes", f.size()},   {"gguf_version", c.version},
                              {"alignment", c.alignment}, {"parameters", values}, {"metadata", metadata},
                              {"tensors", tensors}};
    return j.dump(2) + "\n";
  }
  std::ostringstream out;
  out << path << ": GGUF version " << c.version << ", " << f.size() << " bytes, " << c.tensors.size() << " tensors, " << values
      << " values (" << double(f.size()) * 8 / double(std::max<int64_t>(values, 1)) << " bits a weight overall)\n\n";
  for (const auto& [key, value] : metadata.items()) out << key << " = " << value.dump() << "\n";
  out << "\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-32s %-6s %-14s %10s %7s\n", "tensor", "type", "ne", "bytes", "bits/w");
  out << line;
  for (const TensorInfo& t : c.tensors) {
    std::string ne;
    for (size_t i = 0; i < t.ne.size(); ++i) ne += (i ? "x" : "") + std::to_string(t.ne[i]);
    std::snprintf(line, sizeof line, "%-32s %-6s %-14s %10llu %7.3f\n", t.name.c_str(), ggml_type_name(static_cast<uint32_t>(t.type)).c_str(),
                  ne.c_str(), static_cast<unsigned long long>(t.bytes), double(t.bytes) * 8 / double(std::max<int64_t>(t.values(), 1)));
    out << line;
  }
  return out.str();
}

}  // namespace seedforge::gguf
