// The GGUF container (version 3, as llama.cpp reads it): a writer that builds a
// file in memory and commits it atomically, and a reader that maps a file and
// validates every field before anything is used. Torch-free.
//
// Layout, all little-endian (docs/FORMAT.md, "GGUF"):
//   magic "GGUF" | u32 version (3; 2 is read too) | u64 n_tensors | u64 n_kv
//   n_kv x (string key | u32 value type | value)
//   n_tensors x (string name | u32 n_dims | n_dims x u64 ne (ne[0] the row
//                length, the fastest-varying) | u32 ggml type | u64 offset)
//   zero padding to the alignment (general.alignment, u32, default 32)
//   tensor data: each tensor at data start + offset (a multiple of the alignment),
//                each padded with zeros to the alignment (the last one too)
// string = u64 length | bytes (UTF-8, no terminator). Value types: 0 u8, 1 i8,
// 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool (one byte, 0 or 1), 8 string,
// 9 array (u32 element type | u64 count | elements), 10 u64, 11 i64, 12 f64.
//
// The reader's checks (each error is input_error naming the file and the key
// or tensor): magic and version; counts and lengths bounded by the bytes left
// before anything is allocated; known value types, bools 0/1, no arrays of
// arrays; unique non-empty keys; general.alignment a u32 power of two; tensor
// names unique and at most 63 bytes; 1 to 4 dims, each >= 0, their product
// below 2^40; a type seedforge knows (gguf_blocks.h) whose block size divides
// ne[0]; offsets aligned, inside the file and not overlapping.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gguf/gguf_blocks.h"

namespace seedforge {
class MappedFile;
}

namespace seedforge::gguf {

enum class ValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

// One metadata value. Integers keep their value in `integer` (u64 values above
// INT64_MAX are refused by the reader), floats in `real`, bools in `integer` (0/1).
// An array of u8 keeps its bytes in `string` (not one Value a byte: an embedded
// tokenizer.json can be megabytes), other arrays their elements in `array`.
struct Value {
  ValueType type = ValueType::kU32;
  int64_t integer = 0;
  double real = 0.0;
  std::string string;
  ValueType element_type = ValueType::kU8;  // of an array
  std::vector<Value> array;

  static Value u32(uint32_t v);
  static Value i32(int32_t v);
  static Value u64(uint64_t v);
  static Value f32(float v);
  static Value boolean(bool v);
  static Value str(std::string v);
  static Value strings(const std::vector<std::string>& v);
  static Value f32s(const std::vector<float>& v);
  static Value i32s(const std::vector<int32_t>& v);
  static Value u8s(const std::string& bytes);
};

const char* value_type_name(ValueType t);

struct TensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // ne[0] = row length
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;      // from the start of the data section
  uint64_t bytes = 0;
  int64_t values() const;
  int64_t rows() const;     // product of ne[1..]
};

class Writer {
 public:
  // Metadata in the order added; a key added twice is a usage_error.
  void set(const std::string& key, Value value);
  // data: ggml_bytes(type, product of ne) bytes.
  void add_tensor(const std::string& name, std::vector<int64_t> ne, GgmlType type, std::vector<uint8_t> data);
  // Writes the whole file under a temporary name and renames it into place.
  // Returns the file's size in bytes.
  uint64_t write(const std::string& path) const;
  static constexpr uint32_t kAlignment = 32;

 private:
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<TensorInfo> tensors_;
  std::vector<std::vector<uint8_t>> data_;
};

// The parsed header of a GGUF image (no tensor data copied).
struct Contents {
  uint32_t version = 0;
  uint32_t alignment = 32;
  std::vector<std::pair<std::string, Value>> metadata;
  std::vector<TensorInfo> tensors;
  uint64_t data_offset = 0;  // file offset of the data section
};

// Parses and checks a GGUF image of `size` bytes; `where` names it in errors.
Contents parse(const uint8_t* data, uint64_t size, const std::string& where);

class File {
 public:
  explicit File(const std::string& path);  // maps and parse()s
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  const Contents& contents() const { return contents_; }
  uint64_t size() const;
  // nullptr when absent.
  const Value* find(const std::string& key) const;
  // Typed access; input_error naming the file and key when absent or of
  // another type (any integer type is an integer, f32/f64 a real).
  int64_t integer(const std::string& key) const;
  double real(const std::string& key) const;
  const std::string& string(const std::string& key) const;
  const Value& array(const std::string& key) const;
  const TensorInfo* find_tensor(const std::string& name) const;
  const uint8_t* tensor_data(const TensorInfo& t) const;

 private:
  std::string path_;
  std::unique_ptr<MappedFile> map_;
  Contents contents_;
};

}  // namespace seedforge::gguf
