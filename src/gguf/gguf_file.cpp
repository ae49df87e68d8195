// GGUF container writer and reader (layout and checks: gguf_file.h).
#include "gguf/gguf_file.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "common/error.h"
#include "io/mapped_file.h"
#include "io/output_file.h"

namespace seedforge::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr int64_t kMaxValues = int64_t(1) << 40;
constexpr size_t kMaxNameBytes = 63;     // llama.cpp's GGML_MAX_NAME is 64 with the terminator

// ---- writing ----

struct Bytes {
  std::vector<uint8_t> b;
  template <typename T>
  void put(T v) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
    b.insert(b.end(), tmp, tmp + sizeof(T));
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
};

void put_value(Bytes& out, const Value& v, bool with_type) {
  if (with_type) out.put<uint32_t>(static_cast<uint32_t>(v.type));
  switch (v.type) {
    case ValueType::kU8: out.put<uint8_t>(static_cast<uint8_t>(v.integer)); break;
    case ValueType::kI8: out.put<int8_t>(static_cast<int8_t>(v.integer)); break;
    case ValueType::kU16: out.put<uint16_t>(static_cast<uint16_t>(v.integer)); break;
    case ValueType::kI16: out.put<int16_t>(static_cast<int16_t>(v.integer)); break;
    case ValueType::kU32: out.put<uint32_t>(static_cast<uint32_t>(v.integer)); break;
    case ValueType::kI32: out.put<int32_t>(static_cast<int32_t>(v.integer)); break;
    case ValueType::kU64: out.put<uint64_t>(static_cast<uint64_t>(v.integer)); break;
    case ValueType::kI64: out.put<int64_t>(v.integer); break;
    case ValueType::kF32: out.put<float>(static_cast<float>(v.real)); break;
    case ValueType::kF64: out.put<double>(v.real); break;
    case ValueType::kBool: out.put<uint8_t>(v.integer != 0 ? 1 : 0); break;
    case ValueType::kString: out.str(v.string); break;
    case ValueType::kArray:
      out.put<uint32_t>(static_cast<uint32_t>(v.element_type));
      if (v.element_type == ValueType::kU8) {
        out.str(v.string);  // u64 count, then the bytes
        break;
      }
      out.put<uint64_t>(v.array.size());
      for (const Value& e : v.array) put_value(out, e, false);
      break;
  }
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// ---- reading ----

struct Cursor {
  const uint8_t* data;
  uint64_t size, pos = 0;
  const std::string& where;

  uint64_t left() const { return size - pos; }
  void need(uint64_t n, const std::string& what) const {
    if (n > left()) throw input_error("'", where, "': truncated at byte ", pos, " reading ", what, " (", n, " bytes needed, ", left(), " left)");
  }
  template <typename T>
  T get(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string str(const std::string& what) {
    const uint64_t n = get<uint64_t>(what + " length");
    need(n, what);
    std::string s(reinterpret_cast<const char*>(data + pos), static_cast<size_t>(n));
    pos += n;
    return s;
  }
};

// Smallest encoding of a value of type t, to bound array counts before allocating.
uint64_t min_size(ValueType t) {
  switch (t) {
    case ValueType::kU8: case ValueType::kI8: case ValueType::kBool: return 1;
    case ValueType::kU16: case ValueType::kI16: return 2;
    case ValueType::kU32: case ValueType::kI32: case ValueType::kF32: return 4;
    case ValueType::kU64: case ValueType::kI64: case ValueType::kF64: case ValueType::kString: return 8;
    case ValueType::kArray: return 12;
  }
  return 1;
}

bool known_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kF64); }

Value get_value(Cursor& c, ValueType type, const std::string& key, bool in_array) {
  Value v;
  v.type = type;
  const std::string what = "value of '" + key + "'";
  switch (type) {
    case ValueType::kU8: v.integer = c.get<uint8_t>(what); break;
    case ValueType::kI8: v.integer = c.get<int8_t>(what); break;
    case ValueType::kU16: v.integer = c.get<uint16_t>(what); break;
    case ValueType::kI16: v.integer = c.get<int16_t>(what); break;
    case ValueType::kU32: v.integer = c.get<uint32_t>(what); break;
    case ValueType::kI32: v.integer = c.get<int32_t>(what); break;
    case ValueType::kI64: v.integer = c.get<int64_t>(what); break;
    case ValueType::kU64: {
      const uint64_t u = c.get<uint64_t>(what);
      if (u > static_cast<uint64_t>(INT64_MAX)) throw input_error("'", c.where, "': ", what, " (u64 ", u, ") is above 2^63 - 1");
      v.integer = static_cast<int64_t>(u);
      break;
    }
    case ValueType::kF32: v.real = c.get<float>(what); break;
    case ValueType::kF64: v.real = c.get<double>(what); break;
    case ValueType::kBool: {
      const uint8_t b = c.get<uint8_t>(what);
      if (b > 1) throw input_error("'", c.where, "': ", what, ": bool byte is ", int(b), ", not 0 or 1");
      v.integer = b;
      break;
    }
    case ValueType::kString: v.string = c.str(what); break;
    case ValueType::kArray: {
      if (in_array) throw input_error("'", c.where, "': '", key, "' is an array of arrays, which seedforge does not read");
      const uint32_t et = c.get<uint32_t>(what + " element type");
      if (!known_type(et)) throw input_error("'", c.where, "': '", key, "': unknown array element type ", et);
      v.element_type = static_cast<ValueType>(et);
      const uint64_t n = c.get<uint64_t>(what + " count");
      if (n > c.left() / min_size(v.element_type)) {
        throw input_error("'", c.where, "': '", key, "' claims ", n, " elements, more than the ", c.left(), " bytes left hold");
      }
      if (v.element_type == ValueType::kU8) {
        v.string.assign(reinterpret_cast<const char*>(c.data + c.pos), static_cast<size_t>(n));
        c.pos += n;
        break;
      }
      v.array.reserve(static_cast<size_t>(n));
      for (uint64_t i = 0; i < n; ++i) v.array.push_back(get_value(c, v.element_type, key, true));
      break;
    }
  }
  return v;
}

}  // namespace

// ---- Value ----

Value Value::u32(uint32_t v) { Value x; x.type = ValueType::kU32; x.integer = v; return x; }
Value Value::i32(int32_t v) { Value x; x.type = ValueType::kI32; x.integer = v; return x; }
Value Value::u64(uint64_t v) { Value x; x.type = ValueType::kU64; x.integer = static_cast<int64_t>(v); return x; }
Value Value::f32(float v) { Value x; x.type = ValueType::kF32; x.real = v; return x; }
Value Value::boolean(bool v) { Value x; x.type = ValueType::kBool; x.integer = v ? 1 : 0; return x; }
Value Value::str(std::string v) { Value x; x.type = ValueType::kString; x.string = std::move(v); return x; }
Value Value::strings(const std::vector<std::string>& v) {
  Value x;
  x.type = ValueType::kArray;
  x.element_type = ValueType::kString;
  for (const std::string& s : v) x.array.push_back(str(s));
  return x;
}
Value Value::f32s(const std::vector<float>& v) {
  Value x;
  x.type = ValueType::kArray;
  x.element_type = ValueType::kF32;
  for (float f : v) x.array.push_back(f32(f));
  return x;
}
Value Value::i32s(const std::vector<int32_t>& v) {
  Value x;
  x.type = ValueType::kArray;
  x.element_type = ValueType::kI32;
  for (int32_t i : v) x.array.push_back(i32(i));
  return x;
}
Value Value::u8s(const std::string& bytes) {
  Value x;
  x.type = ValueType::kArray;
  x.element_type = ValueType::kU8;
  x.string = bytes;
  return x;
}

const char* value_type_name(ValueType t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};
  const uint32_t i = static_cast<uint32_t>(t);
  return i < 13 ? names[i] : "?";
}

int64_t TensorInfo::values() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

int64_t TensorInfo::rows() const {
  int64_t n = 1;
  for (size_t i = 1; i < ne.size(); ++i) n *= ne[i];
  return n;
}

// ---- Writer ----

void Writer::set(const std::string& key, Value value) {
  for (const auto& [k, v] : metadata_) {
    if (k == key) throw usage_error("GGUF writer: metadata key '", key, "' added twice");
  }
  metadata_.emplace_back(key, std::move(value));
}

void Writer::add_tensor(const std::string& name, std::vector<int64_t> ne, GgmlType type, std::vector<uint8_t> data) {
  if (name.empty() || name.size() > kMaxNameBytes) throw usage_error("GGUF writer: tensor name '", name, "' must be 1 to 63 bytes");
  for (const TensorInfo& t : tensors_) {
    if (t.name == name) throw usage_error("GGUF writer: tensor '", name, "' added twice");
  }
  if (ne.empty() || ne.size() > 4) throw usage_error("GGUF writer: tensor '", name, "' has ", ne.size(), " dims (1 to 4)");
  TensorInfo t;
  t.name = name;
  t.ne = std::move(ne);
  t.type = type;
  const int64_t expected = ggml_bytes(type, t.values());
  if (static_cast<int64_t>(data.size()) != expected) {
    throw usage_error("GGUF writer: tensor '", name, "' has ", data.size(), " bytes, its shape and type need ", expected);
  }
  t.bytes = data.size();
  tensors_.push_back(std::move(t));
  data_.push_back(std::move(data));
}

uint64_t Writer::write(const std::string& path) const {
  Bytes head;
  head.put<uint32_t>(kMagic);
  head.put<uint32_t>(3);
  head.put<uint64_t>(tensors_.size());
  head.put<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    head.str(key);
    put_value(head, value, true);
  }
  uint64_t offset = 0;
  for (const TensorInfo& t : tensors_) {
    head.str(t.name);
    head.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) head.put<uint64_t>(static_cast<uint64_t>(d));
    head.put<uint32_t>(static_cast<uint32_t>(t.type));
    head.put<uint64_t>(offset);
    offset = align_up(offset + t.bytes, kAlignment);
  }
  OutputFile out(path);
  out.write(head.b.data(), head.b.size());
  out.write_zeros(align_up(head.b.size(), kAlignment) - head.b.size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    out.write(data_[i].data(), data_[i].size());
    out.write_zeros(align_up(data_[i].size(), kAlignment) - data_[i].size());
  }
  const uint64_t size = out.position();
  out.commit();
  return size;
}

// ---- reading ----

Contents parse(const uint8_t* data, uint64_t size, const std::string& where) {
  Cursor c{data, size, 0, where};
  Contents out;
  if (size < 4 || c.get<uint32_t>("magic") != kMagic) throw input_error("'", where, "': not a GGUF file (no GGUF magic)");
  out.version = c.get<uint32_t>("version");
  if (out.version != 2 && out.version != 3) {
    throw input_error("'", where, "': GGUF version ", out.version, " is not supported (seedforge reads versions 2 and 3)");
  }
  const uint64_t n_tensors = c.get<uint64_t>("tensor count");
  const uint64_t n_kv = c.get<uint64_t>("metadata count");
  // A key/value takes at least 8 + 1 + 4 + 1 bytes; a tensor info at least 8 + 1 + 4 + 8 + 4 + 8.
  if (n_kv > c.left() / 14) throw input_error("'", where, "': metadata count ", n_kv, " is more than the file can hold");
  if (n_tensors > c.left() / 33) throw input_error("'", where, "': tensor count ", n_tensors, " is more than the file can hold");
  std::set<std::string> keys;
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.str("metadata key " + std::to_string(i));
    if (key.empty()) throw input_error("'", where, "': metadata key ", i, " is empty");
    if (!keys.insert(key).second) throw input_error("'", where, "': metadata key '", key, "' appears twice");
    const uint32_t type = c.get<uint32_t>("type of '" + key + "'");
    if (!known_type(type)) throw input_error("'", where, "': '", key, "' has unknown value type ", type);
    Value v = get_value(c, static_cast<ValueType>(type), key, false);
    if (key == "general.alignment") {
      if (v.type != ValueType::kU32) throw input_error("'", where, "': general.alignment must be a u32, got ", value_type_name(v.type));
      if (v.integer == 0 || (v.integer & (v.integer - 1)) != 0) {
        throw input_error("'", where, "': general.alignment ", v.integer, " is not a power of two");
      }
      out.alignment = static_cast<uint32_t>(v.integer);
    }
    out.metadata.emplace_back(std::move(key), std::move(v));
  }
  std::set<std::string> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    t.name = c.str("tensor name " + std::to_string(i));
    const std::string what = "'" + where + "': tensor '" + t.name + "'";
    if (t.name.empty() || t.name.size() > kMaxNameBytes) throw input_error(what, ": name must be 1 to 63 bytes");
    if (!names.insert(t.name).second) throw input_error(what, " appears twice");
    const uint32_t n_dims = c.get<uint32_t>("dims of " + t.name);
    if (n_dims < 1 || n_dims > 4) throw input_error(what, ": ", n_dims, " dims (1 to 4 allowed)");
    int64_t values = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = c.get<uint64_t>("shape of " + t.name);
      if (ne > static_cast<uint64_t>(kMaxValues)) throw input_error(what, ": dimension ", d, " is ", ne);
      t.ne.push_back(static_cast<int64_t>(ne));
      if (__builtin_mul_overflow(values, static_cast<int64_t>(ne), &values) || values > kMaxValues) {
        throw input_error(what, ": shape describes more than 2^40 values");
      }
    }
    const uint32_t type = c.get<uint32_t>("type of " + t.name);
    const GgmlTypeInfo* info = ggml_type_info(type);
    if (info == nullptr) {
      throw input_error(what, ": ggml ", ggml_type_name(type), " is not one seedforge reads (F32, F16, Q8_0, TQ1_0, TQ2_0)");
    }
    t.type = static_cast<GgmlType>(type);
    if (t.ne[0] % info->block_values != 0) {
      throw input_error(what, ": row length ", t.ne[0], " is not a multiple of ", info->name, "'s block of ", info->block_values);
    }
    t.bytes = static_cast<uint64_t>(values / info->block_values * info->block_bytes);
    t.offset = c.get<uint64_t>("offset of " + t.name);
    out.tensors.push_back(std::move(t));
  }
  out.data_offset = align_up(c.pos, out.alignment);
  if (out.data_offset > size && !out.tensors.empty()) throw input_error("'", where, "': truncated before the tensor data");
  const uint64_t data_size = size > out.data_offset ? size - out.data_offset : 0;
  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& t : out.tensors) {
    const std::string what = "'" + where + "': tensor '" + t.name + "'";
    if (t.offset % out.alignment != 0) throw input_error(what, ": offset ", t.offset, " is not a multiple of the alignment ", out.alignment);
    if (t.offset > data_size || t.bytes > data_size - t.offset) {
      throw input_error(what, ": its ", t.bytes, " bytes at offset ", t.offset, " run past the end of the file (", data_size,
                        " data bytes)");
    }
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i - 1]->offset + by_offset[i - 1]->bytes > by_offset[i]->offset) {
      throw input_error("'", where, "': tensors '", by_offset[i - 1]->name, "' and '", by_offset[i]->name, "' overlap");
    }
  }
  return out;
}

File::File(const std::string& path) : path_(path), map_(std::make_unique<MappedFile>(path)) {
  contents_ = parse(map_->data(), map_->size(), path);
}

File::~File() = default;

uint64_t File::size() const { return map_->size(); }

const Value* File::find(const std::string& key) const {
  for (const auto& [k, v] : contents_.metadata) {
    if (k == key) return &v;
  }
  return nullptr;
}

namespace {
const Value& require(const File& f, const std::string& key) {
  const Value* v = f.find(key);
  if (v == nullptr) throw input_error("'", f.path(), "': missing metadata key '", key, "'");
  return *v;
}
bool is_integer(ValueType t) {
  return t == ValueType::kU8 || t == ValueType::kI8 || t == ValueType::kU16 || t == ValueType::kI16 || t == ValueType::kU32 ||
         t == ValueType::kI32 || t == ValueType::kU64 || t == ValueType::kI64;
}
}  // namespace

int64_t File::integer(const std::string& key) const {
  const Value& v = require(*this, key);
  if (!is_integer(v.type)) throw input_error("'", path_, "': '", key, "' must be an integer, got ", value_type_name(v.type));
  return v.integer;
}

double File::real(const std::string& key) const {
  const Value& v = require(*this, key);
  if (v.type != ValueType::kF32 && v.type != ValueType::kF64) {
    throw input_error("'", path_, "': '", key, "' must be a float, got ", value_type_name(v.type));
  }
  return v.real;
}

const std::string& File::string(const std::string& key) const {
  const Value& v = require(*this, key);
  if (v.type != ValueType::kString) throw input_error("'", path_, "': '", key, "' must be a string, got ", value_type_name(v.type));
  return v.string;
}

const Value& File::array(const std::string& key) const {
  const Value& v = require(*this, key);
  if (v.type != ValueType::kArray) throw input_error("'", path_, "': '", key, "' must be an array, got ", value_type_name(v.type));
  return v;
}

const TensorInfo* File::find_tensor(const std::string& name) const {
  for (const TensorInfo& t : contents_.tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const uint8_t* File::tensor_data(const TensorInfo& t) const { return map_->data() + contents_.data_offset + t.offset; }

}  // namespace seedforge::gguf
