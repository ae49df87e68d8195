#include "eval/model_size.h"

#include <filesystem>
#include <map>

#include "common/error.h"
#include "common/file_util.h"
#include "io/safetensors.h"

namespace seedforge {

namespace fs = std::filesystem;

namespace {

int64_t bytes_on_disk(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    int64_t total = 0;
    for (const auto& entry : fs::directory_iterator(path)) {
      if (entry.is_regular_file()) total += static_cast<int64_t>(entry.file_size());
    }
    return total;
  }
  return static_cast<int64_t>(file_size_bytes(path));
}

std::string codec_of_dtype(const std::string& dtype) {
  static const std::map<std::string, std::string> names = {
      {"F64", "fp64"}, {"F32", "fp32"}, {"F16", "fp16"}, {"BF16", "bf16"}, {"I64", "int64"},
      {"I32", "int32"}, {"I16", "int16"}, {"I8", "int8"}, {"U8", "uint8"}, {"BOOL", "bool"}};
  const auto it = names.find(dtype);
  return it == names.end() ? dtype : it->second;
}

// Stored (dtype, bytes) of safetensors entries by name, from one file or every
// *.safetensors file of a folder.
std::map<std::string, std::pair<std::string, int64_t>> safetensors_sizes(const std::string& path) {
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& entry : fs::directory_iterator(path)) {
      if (entry.is_regular_file() && entry.path().extension() == ".safetensors") files.push_back(entry.path().string());
    }
  } else {
    files.push_back(path);
  }
  std::map<std::string, std::pair<std::string, int64_t>> sizes;
  for (const auto& file : files) {
    SafetensorsReader reader(file);
    for (const auto& e : reader.entries()) sizes[e.name] = {e.dtype, static_cast<int64_t>(e.end - e.begin)};
  }
  return sizes;
}

}  // namespace

ModelSize measure_model_size(const Checkpoint& checkpoint) {
  std::vector<std::pair<std::string, int64_t>> parameters;
  for (const auto& [name, tensor] : checkpoint.tensors) parameters.emplace_back(name, tensor.numel());
  return measure_model_size(checkpoint.path, checkpoint.format, parameters);
}

ModelSize measure_model_size(const std::string& path, const std::string& format,
                             const std::vector<std::pair<std::string, int64_t>>& parameters) {
  ModelSize size;
  size.path = path;
  size.format = format;
  size.file_bytes = bytes_on_disk(path);
  std::map<std::string, std::pair<std::string, int64_t>> stored;
  if (format == "safetensors" || format == "hf") stored = safetensors_sizes(path);
  for (const auto& [name, params] : parameters) {
    TensorSize t;
    t.name = name;
    t.params = params;
    size.parameters += t.params;
    if (format == "llama2c") {
      t.bytes = t.params * 4;  // the llama2.c layout stores every tensor as fp32
      t.codec = "fp32";
    } else if (!stored.empty()) {
      // Files store HF names with or without the "model." prefix.
      auto it = stored.find(name);
      if (it == stored.end() && name.rfind("model.", 0) == 0) it = stored.find(name.substr(6));
      if (it != stored.end()) {
        t.bytes = it->second.second;
        t.codec = codec_of_dtype(it->second.first);
      }
    }
    size.tensors.push_back(std::move(t));
  }
  if (size.parameters <= 0) throw input_error("'", path, "': the checkpoint holds no parameters");
  size.bits_per_weight = double(size.file_bytes) * 8.0 / double(size.parameters);
  int64_t known = 0;
  bool all_known = true;
  for (const auto& t : size.tensors) {
    if (t.bytes < 0) all_known = false;
    else known += t.bytes;
  }
  size.overhead_bytes = all_known ? size.file_bytes - known : -1;
  return size;
}

double compression_ratio(const ModelSize& original, const ModelSize& compressed) {
  if (compressed.file_bytes <= 0) throw runtime_error("compression ratio: '", compressed.path, "' has no bytes");
  return double(original.file_bytes) / double(compressed.file_bytes);
}

}  // namespace seedforge
