#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.h"
#include "common/file_util.h"
#include "io/mapped_file.h"
#include "io/output_file.h"
#include "io/pt_state_dict.h"
#include "io/utf8.h"

namespace seedforge {

namespace {

using ordered_json = nlohmann::ordered_json;

constexpr uint64_t kMaxHeaderBytes = 100000000;  // the reference implementation's limit

struct DtypeInfo {
  const char* name;
  torch::ScalarType dtype;
  size_t size;
};
constexpr DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2}, {"I8", torch::kInt8, 1}, {"U8", torch::kUInt8, 1}, {"BOOL", torch::kBool, 1},
};

const DtypeInfo* dtype_by_name(const std::string& name) {
  for (const DtypeInfo& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const DtypeInfo& dtype_by_scalar(torch::ScalarType t, const std::string& tensor_name) {
  for (const DtypeInfo& d : kDtypes) {
    if (t == d.dtype) return d;
  }
  throw runtime_error("safetensors: tensor '", tensor_name, "' has dtype ", c10::toString(t),
                      ", which safetensors output does not support here");
}

uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A JSON number that is a non-negative integer, as uint64.
bool as_u64(const ordered_json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

}  // namespace

SafetensorsReader::SafetensorsReader(const std::string& path)
    : path_(path), file_(std::make_unique<MappedFile>(path)) {
  const uint8_t* base = file_->data();
  const uint64_t file_size = file_->size();
  if (file_size < 8) {
    throw input_error("'", path, "' is not a safetensors file: ", file_size, " bytes, need at least 8");
  }
  const uint64_t n = get_u64(base);
  if (n > file_size - 8) {
    throw input_error("'", path, "': safetensors header length ", n, " runs past the end of the file (",
                      file_size - 8, " bytes after the length field)");
  }
  if (n > kMaxHeaderBytes) {
    throw input_error("'", path, "': safetensors header length ", n, " exceeds the ", kMaxHeaderBytes, " byte limit");
  }
  if (n < 2) throw input_error("'", path, "': safetensors header of ", n, " bytes cannot hold a JSON object");
  const char* header = reinterpret_cast<const char*>(base + 8);
  const size_t bad = find_invalid_utf8(header, static_cast<size_t>(n));
  if (bad != std::string::npos) {
    throw input_error("'", path, "': safetensors header is not valid UTF-8 (byte ", bad, " of the header)");
  }
  data_start_ = 8 + n;
  const uint64_t data_size = file_size - data_start_;

  // Parse, noting duplicate top-level names (JSON parsers keep only the last).
  std::set<std::string> seen;
  std::string duplicate;
  ordered_json j;
  try {
    j = ordered_json::parse(header, header + n,
                            [&](int depth, ordered_json::parse_event_t event, ordered_json& parsed) {
                              if (event == ordered_json::parse_event_t::key && depth == 1 && parsed.is_string()) {
                                if (!seen.insert(parsed.get<std::string>()).second && duplicate.empty()) {
                                  duplicate = parsed.get<std::string>();
                                }
                              }
                              return true;
                            });
  } catch (const ordered_json::exception& e) {
    throw input_error("'", path, "': safetensors header is not valid JSON: ", e.what());
  }
  if (!j.is_object()) throw input_error("'", path, "': safetensors header is not a JSON object");
  if (!duplicate.empty()) throw input_error("'", path, "': safetensors header names tensor '", duplicate, "' twice");

  for (const auto& item : j.items()) {
    const std::string& name = item.key();
    const ordered_json& v = item.value();
    const std::string where = concat("'", path, "': tensor '", name, "'");
    if (name == "__metadata__") {
      if (!v.is_object()) throw input_error("'", path, "': __metadata__ must be an object of strings");
      for (const auto& m : v.items()) {
        if (!m.value().is_string()) {
          throw input_error("'", path, "': __metadata__ value for '", m.key(), "' is not a string");
        }
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets")) {
      throw input_error(where, ": expected an object with dtype, shape and data_offsets, got ", v.dump());
    }
    SafetensorsEntry e;
    e.name = name;
    if (!v.at("dtype").is_string()) throw input_error(where, ": dtype is not a string");
    e.dtype = v.at("dtype").get<std::string>();
    const DtypeInfo* info = dtype_by_name(e.dtype);
    if (info == nullptr) {
      throw input_error(where, ": dtype '", e.dtype, "' is not supported (F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
    }
    const ordered_json& shape = v.at("shape");
    if (!shape.is_array()) throw input_error(where, ": shape is not a list");
    unsigned __int128 numel = 1;
    for (const auto& d : shape) {
      uint64_t dim;
      if (!as_u64(d, &dim) || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        throw input_error(where, ": shape ", shape.dump(), " has an entry that is not a non-negative integer");
      }
      e.shape.push_back(static_cast<int64_t>(dim));
      numel *= dim;
      if (numel > (static_cast<unsigned __int128>(1) << 64)) numel = static_cast<unsigned __int128>(1) << 64;
    }
    const ordered_json& offsets = v.at("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2 || !as_u64(offsets.at(0), &e.begin) ||
        !as_u64(offsets.at(1), &e.end)) {
      throw input_error(where, ": data_offsets must be [begin, end] non-negative integers, got ", offsets.dump());
    }
    if (e.begin > e.end || e.end > data_size) {
      throw input_error(where, ": data_offsets [", e.begin, ", ", e.end, "] are out of range (data section is ",
                        data_size, " bytes)");
    }
    const unsigned __int128 expected = numel * info->size;
    if (expected != e.end - e.begin) {
      throw input_error(where, ": shape ", shape.dump(), " of ", e.dtype, " needs ",
                        static_cast<uint64_t>(std::min<unsigned __int128>(expected, ~uint64_t{0})), " bytes but data_offsets span ",
                        e.end - e.begin);
    }
    index_.emplace(e.name, entries_.size());
    entries_.push_back(std::move(e));
  }

  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : entries_) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const SafetensorsEntry* a, const SafetensorsEntry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const SafetensorsEntry& prev = *by_offset[i - 1];
    const SafetensorsEntry& cur = *by_offset[i];
    if (cur.begin < prev.end) {
      throw input_error("'", path, "': tensors '", prev.name, "' [", prev.begin, ", ", prev.end, ") and '", cur.name,
                        "' [", cur.begin, ", ", cur.end, ") overlap");
    }
  }
}

SafetensorsReader::~SafetensorsReader() = default;

const SafetensorsEntry* SafetensorsReader::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

torch::Tensor SafetensorsReader::tensor(const SafetensorsEntry& entry) const {
  return tensor(entry, dtype_by_name(entry.dtype)->dtype);
}

torch::Tensor SafetensorsReader::tensor(const SafetensorsEntry& entry, torch::ScalarType dtype) const {
  const DtypeInfo* info = dtype_by_name(entry.dtype);
  const uint8_t* p = file_->data() + data_start_ + entry.begin;
  const size_t nbytes = static_cast<size_t>(entry.end - entry.begin);
  if (info->dtype == torch::kBool) {
    for (size_t i = 0; i < nbytes; ++i) {
      if (p[i] > 1) throw input_error("'", path_, "': bool tensor '", entry.name, "' holds byte ", int{p[i]});
    }
  }
  const auto src = torch::TensorOptions().dtype(info->dtype);
  if (reinterpret_cast<uintptr_t>(p) % info->size == 0) {
    // Aligned: convert straight out of the mapping, one copy.
    torch::Tensor view = torch::from_blob(const_cast<uint8_t*>(p), entry.shape, src);
    torch::Tensor out = view.to(dtype, /*non_blocking=*/false, /*copy=*/true);
    file_->release(p, nbytes);  // read once: the copy is what stays resident
    return out;
  }
  // Header lengths are not always multiples of 8: copy to aligned memory first.
  torch::Tensor t = torch::empty(entry.shape, src);
  if (nbytes > 0) std::memcpy(t.data_ptr(), p, nbytes);
  file_->release(p, nbytes);
  return dtype == info->dtype ? t : t.to(dtype);
}

StateDict read_safetensors(const std::string& path) {
  SafetensorsReader reader(path);
  StateDict out;
  out.reserve(reader.entries().size());
  for (const auto& e : reader.entries()) out.emplace_back(e.name, reader.tensor(e));
  return out;
}

StateDict read_safetensors(const std::string& path, torch::ScalarType dtype) {
  SafetensorsReader reader(path);
  StateDict out;
  out.reserve(reader.entries().size());
  for (const auto& e : reader.entries()) out.emplace_back(e.name, reader.tensor(e, dtype));
  return out;
}

void write_safetensors(const std::string& path, const StateDict& tensors,
                       const std::map<std::string, std::string>& metadata) {
  ordered_json header = ordered_json::object();
  if (!metadata.empty()) {
    ordered_json m = ordered_json::object();
    for (const auto& kv : metadata) {
      if (!is_valid_utf8(kv.first) || !is_valid_utf8(kv.second)) {
        throw runtime_error("safetensors '", path, "': metadata is not valid UTF-8");
      }
      m[kv.first] = kv.second;
    }
    header["__metadata__"] = m;
  }
  std::vector<torch::Tensor> data;
  data.reserve(tensors.size());
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, input] : tensors) {
    if (name == "__metadata__" || !is_valid_utf8(name) || !names.insert(name).second) {
      throw runtime_error("safetensors '", path, "': tensor name '", name, "' is reserved, repeated or not UTF-8");
    }
    if (!input.defined()) throw runtime_error("safetensors '", path, "': tensor '", name, "' is undefined");
    const DtypeInfo& info = dtype_by_scalar(input.scalar_type(), name);
    torch::Tensor t = input.cpu().contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * info.size;
    header[name] = {{"dtype", info.name}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    data.push_back(t);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data section starts 8-byte aligned
  OutputFile out(path);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>((text.size() >> (8 * i)) & 0xFF);
  out.write(len, 8);
  out.write(text.data(), text.size());
  for (const auto& t : data) {
    if (t.numel() > 0) out.write(t.data_ptr(), t.numel() * t.element_size());
  }
  out.commit();
}

namespace {

// A sharded checkpoint's index, opened: each tensor with its shard's reader
// (headers validated, no data read), in the index's order.
struct ShardedIndex {
  std::map<std::string, std::unique_ptr<SafetensorsReader>> shards;
  std::vector<std::pair<const SafetensorsReader*, const SafetensorsEntry*>> tensors;
};

ShardedIndex open_sharded_index(const std::string& index_path) {
  ordered_json j;
  try {
    j = ordered_json::parse(read_file_text(index_path));
  } catch (const ordered_json::exception& e) {
    throw input_error("'", index_path, "': not valid JSON: ", e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j.at("weight_map").is_object()) {
    throw input_error("'", index_path, "': required field 'weight_map' (an object) is missing");
  }
  const std::filesystem::path folder = std::filesystem::path(index_path).parent_path();
  ShardedIndex index;
  for (const auto& item : j.at("weight_map").items()) {
    if (!item.value().is_string()) {
      throw input_error("'", index_path, "': weight_map entry '", item.key(), "' is not a file name");
    }
    const std::string shard = item.value().get<std::string>();
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..") {
      throw input_error("'", index_path, "': weight_map entry '", item.key(), "' names shard '", shard,
                        "', which is not a plain file name in the index's folder");
    }
    auto it = index.shards.find(shard);
    if (it == index.shards.end()) {
      it = index.shards.emplace(shard, std::make_unique<SafetensorsReader>((folder / shard).string())).first;
    }
    const SafetensorsEntry* e = it->second->find(item.key());
    if (e == nullptr) {
      throw input_error("'", index_path, "': tensor '", item.key(), "' is not in its shard '", shard, "'");
    }
    index.tensors.emplace_back(it->second.get(), e);
  }
  return index;
}

}  // namespace

StateDict read_safetensors_sharded(const std::string& index_path, torch::ScalarType dtype) {
  const ShardedIndex index = open_sharded_index(index_path);
  StateDict out;
  for (const auto& [reader, entry] : index.tensors) out.emplace_back(entry->name, reader->tensor(*entry, dtype));
  return out;
}

std::vector<SafetensorsEntry> read_safetensors_sharded_entries(const std::string& index_path) {
  const ShardedIndex index = open_sharded_index(index_path);
  std::vector<SafetensorsEntry> out;
  for (const auto& [reader, entry] : index.tensors) out.push_back(*entry);
  return out;
}

StateDict read_safetensors_weights_fp32(const std::string& path) {
  SafetensorsReader reader(path);
  StateDict out;
  out.reserve(reader.entries().size());
  for (const auto& e : reader.entries()) {
    if (e.dtype != "F32" && e.dtype != "F16" && e.dtype != "BF16" && e.dtype != "F64") {
      throw input_error("'", path, "': tensor '", e.name, "' has dtype ", e.dtype,
                        "; expected F32, F16, BF16 or F64 weights");
    }
    out.emplace_back(e.name, reader.tensor(e, torch::kFloat32));
  }
  return out;
}

Checkpoint load_safetensors_checkpoint(const std::string& path) {
  return checkpoint_from_state_dict(path, "safetensors", read_safetensors_weights_fp32(path));
}

}  // namespace seedforge
