// Loading a .stage1.pt into the engine's structures (model.h). The file's
// layout: docs/FORMAT.md, "Stage-1 file"; the libtorch reader it mirrors:
// pipeline/stage1_file.cpp (same checks, same messages where they overlap).
#include "infer/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "codec/seedlm_codec.h"
#include "codec/packed_levels.h"
#include "codec/ternary.h"
#include "common/error.h"
#include "common/release_memory.h"
#include "infer/kernels.h"
#include "io/pt_archive.h"

namespace seedforge::infer {

namespace {

using Kind = PickleValue::Kind;

constexpr const char* kFormatName = "seedforge.stage1";
constexpr int64_t kMaxFormatVersion = 3;
constexpr int64_t kMaxElements = int64_t(1) << 40;

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return "list";
    case Kind::kTuple: return "tuple";
    case Kind::kDict: return "dict";
    case Kind::kTensor: return "tensor";
  }
  return "?";
}

const PickleValue* find(const PickleValue& dict, const std::string& key) {
  for (const auto& [k, v] : dict.entries) {
    if (k.kind == Kind::kString && k.string == key) return &v;
  }
  return nullptr;
}

// The bytes of a tensor as a contiguous array: in place in the mapping when
// the view is contiguous, else gathered.
struct Array {
  const uint8_t* data = nullptr;
  int64_t numel = 0;
  size_t element_size = 0;
  std::string type;  // storage type name
  std::vector<uint8_t> owned;

  float as_float(int64_t i) const {
    const uint8_t* p = data + static_cast<size_t>(i) * element_size;
    if (type == "FloatStorage") return load<float>(p);
    if (type == "HalfStorage") return fp16_to_float(load<uint16_t>(p));
    if (type == "BFloat16Storage") {
      const uint32_t bits = uint32_t(load<uint16_t>(p)) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    if (type == "DoubleStorage") return static_cast<float>(load<double>(p));
    if (type == "LongStorage") return static_cast<float>(load<int64_t>(p));
    if (type == "IntStorage") return static_cast<float>(load<int32_t>(p));
    if (type == "ShortStorage") return static_cast<float>(load<int16_t>(p));
    if (type == "CharStorage") return static_cast<float>(load<int8_t>(p));
    return static_cast<float>(*p);  // Byte, Bool
  }
  template <typename T>
  static T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
  }
};

// Field access with errors that name the file and the dotted field (as read_stage1_file).
struct Reader {
  PtArchive& archive;
  const std::string& path;

  const PickleValue& at(const PickleValue& dict, const std::string& key, const std::string& field) const {
    if (dict.kind != Kind::kDict) throw input_error("'", path, "': field '", field, "' is not a dict");
    const PickleValue* v = find(dict, key);
    if (v == nullptr) throw input_error("'", path, "': missing field '", field.empty() ? key : field + "." + key, "'");
    return *v;
  }
  const PickleValue& typed(const PickleValue& dict, const std::string& key, const std::string& field, Kind kind,
                           const char* what) const {
    const PickleValue& v = at(dict, key, field);
    if (v.kind != kind) throw input_error("'", path, "': field '", field, ".", key, "' must be ", what, ", got ", kind_name(v.kind));
    return v;
  }
  int64_t integer(const PickleValue& d, const std::string& key, const std::string& field) const {
    return typed(d, key, field, Kind::kInt, "an int").integer;
  }
  bool boolean(const PickleValue& d, const std::string& key, const std::string& field) const {
    return typed(d, key, field, Kind::kBool, "a bool").boolean;
  }
  std::string string(const PickleValue& d, const std::string& key, const std::string& field) const {
    return typed(d, key, field, Kind::kString, "a string").string;
  }
  const PickleTensor& tensor(const PickleValue& d, const std::string& key, const std::string& field) const {
    return typed(d, key, field, Kind::kTensor, "a tensor").tensor;
  }
  Array array(const PickleTensor& t) const {
    const PtStorage s = archive.view(t);
    Array a;
    a.numel = pickle_tensor_numel(t);
    a.element_size = s.element_size;
    a.type = s.type;
    if (a.numel == 0) return a;
    if (pickle_tensor_is_contiguous(t)) {
      a.data = s.bytes + static_cast<size_t>(t.storage_offset) * s.element_size;
      return a;
    }
    // A strided view (not what seedforge writes, but what torch.load accepts).
    a.owned.resize(static_cast<size_t>(a.numel) * s.element_size);
    std::vector<int64_t> index(t.size.size(), 0);
    for (int64_t i = 0; i < a.numel; ++i) {
      int64_t offset = t.storage_offset;
      for (size_t d = 0; d < index.size(); ++d) offset += index[d] * t.stride[d];
      std::memcpy(a.owned.data() + static_cast<size_t>(i) * s.element_size, s.bytes + static_cast<size_t>(offset) * s.element_size,
                  s.element_size);
      for (size_t d = index.size(); d-- > 0;) {
        if (++index[d] < t.size[d]) break;
        index[d] = 0;
      }
    }
    a.data = a.owned.data();
    return a;
  }
  // The bytes of an array read in place need not stay resident (PtArchive::release).
  void done(const Array& a) const {
    if (a.owned.empty() && a.data != nullptr) archive.release(a.data, static_cast<size_t>(a.numel) * a.element_size);
  }
  double real(const PickleValue& d, const std::string& key, const std::string& field) const {
    const Array a = array(tensor(d, key, field));
    if (a.numel != 1) throw input_error("'", path, "': field '", field, ".", key, "' must hold one value");
    const uint8_t* p = a.data;
    if (a.type == "DoubleStorage") return Array::load<double>(p);
    return static_cast<double>(a.as_float(0));
  }
};

// One entry of the "tensors" dict.
struct Entry {
  std::string name, codec;
  std::vector<int64_t> shape;
  int64_t numel = 1;
  const PickleTensor* scale = nullptr;
  const PickleTensor* payload = nullptr;
  int64_t scale_group = 0;
  int max_level = 1;  // levels: values in -max_level..max_level
};

std::string describe(const std::string& path, const Entry& e) { return "'" + path + "': tensor '" + e.name + "' (" + e.codec + ")"; }

Entry read_entry(const Reader& r, const std::string& name, const PickleValue& entry) {
  Entry t;
  t.name = name;
  const std::string field = "tensors." + name;
  t.codec = r.string(entry, "codec", field);
  const PickleValue& shape = r.at(entry, "shape", field);
  if (shape.kind != Kind::kList && shape.kind != Kind::kTuple) throw input_error("'", r.path, "': ", field, ".shape is not a list");
  for (const PickleValue& s : shape.items) {
    if (s.kind != Kind::kInt || s.integer < 0) throw input_error("'", r.path, "': ", field, ".shape holds a non-size");
    t.shape.push_back(s.integer);
    if (__builtin_mul_overflow(t.numel, s.integer, &t.numel) || t.numel > kMaxElements) {
      throw input_error("'", r.path, "': ", field, ".shape describes more than 2^40 values");
    }
  }
  if (t.codec == "seedlm") {
    t.scale = &r.tensor(entry, "scale", field);
    t.payload = &r.tensor(entry, "bits", field);
  } else if (t.codec == "ternary" || t.codec == "levels") {
    t.scale = &r.tensor(entry, "scale", field);
    t.payload = &r.tensor(entry, "packed", field);
    if (find(entry, "scale_group") != nullptr) {
      t.scale_group = r.integer(entry, "scale_group", field);
      if (t.scale_group <= 0) throw input_error("'", r.path, "': ", field, ".scale_group must be > 0, got ", t.scale_group);
    }
    if (t.codec == "levels") {
      const int64_t level = r.integer(entry, "max_level", field);
      if (level < 1 || level > kMaxPackedLevel) {
        throw input_error("'", r.path, "': ", field, ".max_level must be in [1, ", kMaxPackedLevel, "], got ", level);
      }
      t.max_level = static_cast<int>(level);
    }
  } else if (t.codec == "int8") {
    t.scale = &r.tensor(entry, "scale", field);
    t.payload = &r.tensor(entry, "data", field);
  } else if (t.codec == "raw") {
    t.payload = &r.tensor(entry, "data", field);
  } else {
    throw input_error("'", r.path, "': ", field, ": unknown codec '", t.codec, "' (known: seedlm, ternary, levels, int8, raw)");
  }
  return t;
}

void check_finite(const float* v, int64_t n, const std::string& what) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) throw input_error(what, ": decodes to NaN or Inf");
  }
}

// Checks a scale tensor's dtype and count (decode_stage1_tensor's check_scale).
Array checked_scale(const Reader& r, const Entry& t, int64_t expected_a, int64_t expected_b, bool fp16_allowed) {
  const std::string what = describe(r.path, t);
  Array s = r.array(*t.scale);
  const bool dtype_ok = s.type == "FloatStorage" || (fp16_allowed && s.type == "HalfStorage");
  if (!dtype_ok || (s.numel != expected_a && s.numel != expected_b)) {
    throw input_error(what, ": scale must be ", fp16_allowed ? "fp32 or fp16" : "fp32", " with ", expected_a,
                      expected_a != expected_b ? " or " + std::to_string(expected_b) : "", " values");
  }
  return s;
}

Array checked_bytes(const Reader& r, const Entry& t, int64_t expected) {
  const std::string what = describe(r.path, t);
  Array b = r.array(*t.payload);
  if (b.type != "ByteStorage") throw input_error(what, ": payload must be uint8");
  if (b.numel != expected) throw input_error(what, ": payload holds ", b.numel, " bytes, the shape needs ", expected);
  return b;
}

// Scale layout of a ternary entry: (count check done) -> groups, run width, stride.
struct ScaleLayout {
  int64_t groups = 1, group_cols = 0, stride = 0;
};

ScaleLayout ternary_scale_layout(const Reader& r, const Entry& t, Array* scale) {
  const int64_t rows = t.shape[0], cols = t.shape[1];
  ScaleLayout l;
  if (t.scale_group > 0) {
    const int64_t count = TernaryScaleLayout(TernaryScaleMode::kPerRow, t.scale_group).scale_count(rows, cols);
    *scale = checked_scale(r, t, count, count, true);
    // A run wider than the row is one scale per row.
    l.groups = cols > 0 ? (cols + t.scale_group - 1) / t.scale_group : 1;
    l.group_cols = l.groups > 1 ? t.scale_group : 0;
    l.stride = l.groups;
  } else {
    *scale = checked_scale(r, t, 1, rows, true);
    l.stride = scale->numel == 1 ? 0 : 1;
  }
  if (l.groups < 1) l.groups = 1;
  return l;
}

// The integer values of a ternary or levels entry.
std::vector<int8_t> ternary_trits(const Reader& r, const Entry& t) {
  const std::string what = describe(r.path, t);
  const bool levels = t.codec == "levels";
  const Array bytes = checked_bytes(r, t, levels ? packed_levels_bytes(t.numel, t.max_level) : trits_base3_bytes(t.numel));
  std::vector<int8_t> trits(static_cast<size_t>(t.numel));
  try {
    if (levels) {
      unpack_levels(bytes.data, static_cast<size_t>(bytes.numel), t.numel, t.max_level, trits.data());
    } else {
      unpack_trits_base3(bytes.data, static_cast<size_t>(bytes.numel), t.numel, trits.data());
    }
  } catch (const Error& e) {
    throw input_error(what, ": ", e.what());
  }
  r.done(bytes);
  return trits;
}

void check_scales_finite(const Array& scale, const std::string& what) {
  for (int64_t i = 0; i < scale.numel; ++i) {
    if (!std::isfinite(scale.as_float(i))) throw input_error(what, ": decodes to NaN or Inf");
  }
}

// A ternary entry in the kernels' layout, from the file's bytes.
TernaryMatrix ternary_matrix(const Reader& r, const Entry& t) {
  const std::string what = describe(r.path, t);
  if (t.shape.size() != 2) throw input_error(what, ": ternary tensors must be 2-D");
  Array scale;
  ternary_scale_layout(r, t, &scale);
  const std::vector<int8_t> trits = ternary_trits(r, t);
  if (t.numel > 0) check_scales_finite(scale, what);
  return pack_ternary(trits.data(), t.shape[0], t.shape[1], t.scale_group, scale.data, scale.numel,
                      scale.type == "HalfStorage", t.codec == "levels" ? t.max_level : 1);
}

// Any entry decoded to fp32 (decode_stage1_tensor's arithmetic, bit for bit).
std::vector<float> decode_float(const Reader& r, const Entry& t, const SeedLMParams& seedlm) {
  const std::string what = describe(r.path, t);
  const int64_t n = t.numel;
  std::vector<float> out;
  if (t.codec == "seedlm") {
    const Array scale = checked_scale(r, t, 1, 1, false);
    const Array bytes = checked_bytes(r, t, seedlm_stream_bytes(n, seedlm));
    SeedLMTensor enc;
    enc.scale = scale.as_float(0);
    enc.n_values = n;
    enc.bits.assign(bytes.data, bytes.data + bytes.numel);
    r.done(bytes);
    out.resize(static_cast<size_t>(n));
    try {
      seedlm_decode(enc, seedlm, out.data());
    } catch (const Error& e) {
      throw input_error(what, ": ", e.what());
    }
  } else if (t.codec == "ternary" || t.codec == "levels") {
    if (t.shape.size() != 2) throw input_error(what, ": ", t.codec, " tensors must be 2-D");
    Array scale;
    const ScaleLayout l = ternary_scale_layout(r, t, &scale);
    const std::vector<int8_t> trits = ternary_trits(r, t);
    const int64_t rows = t.shape[0], cols = t.shape[1];
    out.resize(static_cast<size_t>(n));
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t g = l.groups > 1 ? c / l.group_cols : 0;
        const float s = scale.as_float(row * l.stride + g);
        out[static_cast<size_t>(row * cols + c)] = static_cast<float>(trits[static_cast<size_t>(row * cols + c)]) * s;
      }
    }
  } else if (t.codec == "int8") {
    if (t.shape.size() != 2) throw input_error(what, ": int8 tensors must be 2-D");
    const Array scale = checked_scale(r, t, t.shape[0], t.shape[0], false);
    const Array data = r.array(*t.payload);
    if (data.type != "CharStorage" || data.numel != n) throw input_error(what, ": data must be int8 with ", n, " values");
    out.resize(static_cast<size_t>(n));
    const int64_t cols = t.shape[1];
    for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = data.as_float(i) * scale.as_float(i / cols);
    r.done(data);
  } else {
    const Array data = r.array(*t.payload);
    if (data.numel != n) throw input_error(what, ": data holds ", data.numel, " values, shape says ", n);
    out.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = data.as_float(i);
    r.done(data);
  }
  check_finite(out.data(), n, what);
  return out;
}

DenseMatrix dense_matrix(std::vector<float> values, int64_t rows, int64_t cols, bool fp16) {
  DenseMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.fp16 = fp16;
  if (fp16) {
    m.w16.resize(values.size());
    for (size_t i = 0; i < values.size(); ++i) m.w16[i] = float_to_fp16(values[i]);
  } else {
    m.w = std::move(values);
  }
  return m;
}

// A float matrix entry as the engine keeps it. A SeedLM entry kept in fp16 is
// decoded slice by slice straight into fp16, never whole in fp32 (a
// 32,000 x 2,048 head would hold 262 MB of fp32 beside its 131 MB of fp16).
DenseMatrix dense_entry(const Reader& r, const Entry& e, const SeedLMParams& seedlm, bool fp16) {
  if (!(fp16 && e.codec == "seedlm" && e.shape.size() == 2)) {
    return dense_matrix(decode_float(r, e, seedlm), e.shape[0], e.shape[1], fp16);
  }
  const std::string what = describe(r.path, e);
  const Array scale = checked_scale(r, e, 1, 1, false);
  const Array bytes = checked_bytes(r, e, seedlm_stream_bytes(e.numel, seedlm));
  const float s = scale.as_float(0);
  if (!std::isfinite(s) || !(s > 0.0f)) throw input_error(what, ": SeedLM decode: scale ", s, " is not a positive finite number");
  DenseMatrix m;
  m.rows = e.shape[0];
  m.cols = e.shape[1];
  m.fp16 = true;
  m.w16.resize(static_cast<size_t>(e.numel));
  std::vector<float> slice;
  const int64_t step = int64_t(1) << 16;
  for (int64_t begin = 0; begin < e.numel; begin += step) {
    const int64_t end = std::min(e.numel, begin + step);
    slice.resize(static_cast<size_t>(end - begin));
    try {
      seedlm_decode_range(bytes.data, static_cast<size_t>(bytes.numel), e.numel, s, seedlm, begin, end, slice.data());
    } catch (const Error& err) {
      throw input_error(what, ": ", err.what());
    }
    check_finite(slice.data(), end - begin, what);
    for (int64_t i = begin; i < end; ++i) m.w16[static_cast<size_t>(i)] = float_to_fp16(slice[static_cast<size_t>(i - begin)]);
  }
  r.done(bytes);
  return m;
}

int64_t stored_bytes(const Reader& r, const Entry& t) {
  auto size_of = [&](const PickleTensor* p) -> int64_t {
    if (p == nullptr) return 0;
    return pickle_tensor_numel(*p) * static_cast<int64_t>(pickle_storage_element_size(p->storage_type));
  };
  (void)r;
  return size_of(t.payload) + size_of(t.scale);
}

}  // namespace

uint16_t float_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (x > 0x7f800000u ? 0x200u : 0u));
  if (x >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow to Inf
  if (x < 0x38800000u) {                                                // subnormal or zero in fp16
    if (x < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t e = x >> 23;
    const uint32_t m = (x & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14 - (e - 112)
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = ((x >> 13) - (112u << 10));
  const uint32_t rem = x & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

static_assert(kMaxPackedLevel == kMaxKernelLevel, "every levels entry a file can hold must fit the I4-32 layout");

TernaryMatrix pack_ternary(const int8_t* trits, int64_t rows, int64_t cols, int64_t scale_group, const void* scales,
                           int64_t scale_count, bool fp16, int max_level) {
  if (rows < 0 || cols < 0 || scale_group < 0) throw usage_error("pack_ternary: negative size");
  if (max_level < 1 || max_level > kMaxKernelLevel) {
    throw usage_error("pack_ternary: max level ", max_level, " is outside 1..", kMaxKernelLevel);
  }
  TernaryMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.max_level = max_level;
  m.chunks = (cols + kChunkCols - 1) / kChunkCols;
  if (scale_group > 0) {
    const int64_t runs = cols > 0 ? (cols + scale_group - 1) / scale_group : 1;
    if (scale_count != rows * runs) {
      throw usage_error("pack_ternary: ", scale_count, " scales for ", rows, " rows of ", runs, " runs of ", scale_group, " columns");
    }
    m.groups = runs;
    m.group_cols = runs > 1 ? scale_group : 0;
    m.scale_stride = runs;
  } else {
    if (scale_count != 1 && scale_count != rows) {
      throw usage_error("pack_ternary: ", scale_count, " scales for ", rows, " rows (expected 1 or one a row)");
    }
    m.scale_stride = scale_count == 1 ? 0 : 1;
  }
  const int64_t chunk_bytes = m.chunk_bytes();
  m.codes.assign(static_cast<size_t>(rows * m.chunks * chunk_bytes), 0);
  for (int64_t row = 0; row < rows; ++row) {
    const int8_t* src = trits + row * cols;
    uint8_t* dst = m.codes.data() + row * m.chunks * chunk_bytes;
    for (int64_t c = 0; c < m.chunks * kChunkCols; ++c) {
      int code = max_level;  // padding: value 0
      if (c < cols) {
        if (src[c] < -max_level || src[c] > max_level) {
          throw usage_error("pack_ternary: value ", int(src[c]), " at row ", row, ", column ", c,
                            max_level == 1 ? " is not a trit" : " is outside -" + std::to_string(max_level) + ".." + std::to_string(max_level));
        }
        code = src[c] + max_level;
      }
      const int64_t i = c % kChunkCols;
      uint8_t* chunk = dst + (c / kChunkCols) * chunk_bytes;
      if (max_level == 1) chunk[i % 8] |= static_cast<uint8_t>(code << (2 * (i / 8)));
      else chunk[i % 16] |= static_cast<uint8_t>(code << (4 * (i / 16)));
    }
  }
  m.fp16_scales = fp16;
  if (fp16) {
    m.scales16.resize(static_cast<size_t>(scale_count));
    if (scale_count > 0) std::memcpy(m.scales16.data(), scales, static_cast<size_t>(scale_count) * 2);
  } else {
    m.scales.resize(static_cast<size_t>(scale_count));
    if (scale_count > 0) std::memcpy(m.scales.data(), scales, static_cast<size_t>(scale_count) * 4);
  }
  return m;
}

int64_t TernaryMatrix::bytes() const {
  return static_cast<int64_t>(codes.size() + scales.size() * 4 + scales16.size() * 2);
}

int64_t TernaryMatrix::chunk_bytes() const { return max_level == 1 ? kChunkBytes : kLevelsChunkBytes; }

int TernaryMatrix::value(int64_t r, int64_t c) const {
  const uint8_t* chunk = codes.data() + (r * chunks + c / kChunkCols) * chunk_bytes();
  const int64_t i = c % kChunkCols;
  const int code = max_level == 1 ? (chunk[i % 8] >> (2 * (i / 8))) & 3 : (chunk[i % 16] >> (4 * (i / 16))) & 15;
  return code - max_level;
}

float TernaryMatrix::scale(int64_t r, int64_t c) const {
  const int64_t k = r * scale_stride + (groups > 1 ? c / group_cols : 0);
  return fp16_scales ? fp16_to_float(scales16[static_cast<size_t>(k)]) : scales[static_cast<size_t>(k)];
}

void TernaryMatrix::row(int64_t r, float* out) const {
  for (int64_t c = 0; c < cols; ++c) out[c] = static_cast<float>(value(r, c)) * scale(r, c);
}

int64_t DenseMatrix::bytes() const { return static_cast<int64_t>(w.size() * 4 + w16.size() * 2); }

void DenseMatrix::row(int64_t r, float* out) const {
  if (fp16) {
    const uint16_t* h = w16.data() + r * cols;
    for (int64_t c = 0; c < cols; ++c) out[c] = fp16_to_float(h[c]);
  } else {
    std::memcpy(out, w.data() + r * cols, static_cast<size_t>(cols) * sizeof(float));
  }
}

int64_t Projection::bytes() const {
  return (ternary ? t.bytes() : d.bytes()) + static_cast<int64_t>(bias.size() * sizeof(float));
}

void SeedLMMatrix::row(int64_t r, float* out) const {
  seedlm_decode_range(bits.data(), bits.size(), rows * cols, scale, params, r * cols, (r + 1) * cols, out);
}

void Model::embed(int32_t token, float* x) const {
  if (token < 0 || token >= config.vocab_size) {
    throw usage_error("token id ", token, " is outside the vocabulary of ", config.vocab_size);
  }
  if (embedding_is_seedlm) embedding_seedlm.row(token, x);
  else if (config.tie_embeddings) head.row(token, x);
  else embedding.row(token, x);
}

int64_t Model::weight_bytes() const {
  int64_t n = head.bytes() + embedding.bytes() + static_cast<int64_t>(embedding_seedlm.bits.size()) +
              static_cast<int64_t>(final_norm.size() * sizeof(float));
  for (const Layer& l : layers) {
    n += static_cast<int64_t>((l.attn_norm.size() + l.ffn_norm.size()) * sizeof(float));
    for (const Projection* p : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) n += p->bytes();
  }
  return n;
}

int64_t Model::parameters() const {
  int64_t n = 0;
  for (const auto& [name, count] : parameter_counts()) n += count;
  return n;
}

std::vector<std::pair<std::string, int64_t>> Model::parameter_counts() const {
  const ModelConfig& c = config;
  const int64_t C = c.dim, F = c.hidden_dim, D = c.head_dim(), V = c.vocab_size;
  std::vector<std::pair<std::string, int64_t>> out;
  out.emplace_back("model.embed_tokens.weight", V * C);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const int64_t q = c.n_heads * D, kv = c.n_kv_heads * D;
    out.emplace_back(p + "self_attn.q_proj.weight", q * C);
    if (c.attention_bias) out.emplace_back(p + "self_attn.q_proj.bias", q);
    out.emplace_back(p + "self_attn.k_proj.weight", kv * C);
    if (c.attention_bias) out.emplace_back(p + "self_attn.k_proj.bias", kv);
    out.emplace_back(p + "self_attn.v_proj.weight", kv * C);
    if (c.attention_bias) out.emplace_back(p + "self_attn.v_proj.bias", kv);
    out.emplace_back(p + "self_attn.o_proj.weight", C * q);
    out.emplace_back(p + "mlp.gate_proj.weight", F * C);
    out.emplace_back(p + "mlp.up_proj.weight", F * C);
    out.emplace_back(p + "mlp.down_proj.weight", C * F);
    out.emplace_back(p + "input_layernorm.weight", C);
    out.emplace_back(p + "post_attention_layernorm.weight", C);
  }
  out.emplace_back("model.norm.weight", C);
  if (!c.tie_embeddings) out.emplace_back("lm_head.weight", V * C);
  return out;
}

std::unique_ptr<Tokenizer> Model::make_tokenizer() const {
  const std::string where = path + " (embedded " + tokenizer_kind + " tokenizer)";
  auto tokenizer = load_tokenizer_from_bytes(tokenizer_kind, tokenizer_bytes, where);
  check_vocabulary(config, *tokenizer, where, path);
  return tokenizer;
}

void check_vocabulary(const ModelConfig& config, const Tokenizer& tokenizer, const std::string& tokenizer_where,
                      const std::string& model_where) {
  // Fewer tokens than embedding rows is a padded vocabulary (Qwen2.5 and
  // Phi-3 pad theirs past the tokenizer); more cannot be indexed.
  if (tokenizer.vocab_size() > config.vocab_size) {
    throw input_error("tokenizer '", tokenizer_where, "' has ", tokenizer.vocab_size(), " tokens but model '", model_where,
                      "' has a vocabulary of ", config.vocab_size, ": they do not belong together");
  }
}

std::shared_ptr<const Model> load_model(const std::string& path, const Options& options) {
  PtArchive archive(path);
  const Reader r{archive, path};
  const PickleValue& root = archive.root();
  if (root.kind != Kind::kDict) throw input_error("'", path, "': not a Stage-1 file (top level is a ", kind_name(root.kind), ")");
  const std::string format = r.string(root, "format", "");
  if (format != kFormatName) throw input_error("'", path, "': format is '", format, "', expected '", kFormatName, "'");
  const int64_t version = r.integer(root, "format_version", "");
  if (version < 1 || version > kMaxFormatVersion) {
    throw input_error("'", path, "': format_version ", version, " is not supported (this seedforge reads versions 1 to ",
                      kMaxFormatVersion, "); use a matching seedforge release");
  }
  auto model = std::make_shared<Model>();
  Model& m = *model;
  m.path = path;
  m.format_version = version;

  const PickleValue& md = r.at(root, "model", "");
  const PickleValue& cfg = r.at(md, "config", "model");
  ModelConfig& c = m.config;
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
  m.tokenizer_kind = r.string(md, "tokenizer_kind", "model");
  {
    const Array tok = r.array(r.tensor(md, "tokenizer", "model"));
    m.tokenizer_bytes.resize(static_cast<size_t>(tok.numel));
    for (int64_t i = 0; i < tok.numel; ++i) {
      m.tokenizer_bytes[static_cast<size_t>(i)] = static_cast<char>(static_cast<uint8_t>(tok.as_float(i)));
    }
  }

  SeedLMParams seedlm;
  const PickleValue& sl = r.at(r.at(root, "codecs", ""), "seedlm", "codecs");
  seedlm.K = static_cast<int>(r.integer(sl, "K", "codecs.seedlm"));
  seedlm.C = static_cast<int>(r.integer(sl, "C", "codecs.seedlm"));
  seedlm.P = static_cast<int>(r.integer(sl, "P", "codecs.seedlm"));
  seedlm.Q = static_cast<int>(r.integer(sl, "Q", "codecs.seedlm"));
  seedlm.E = static_cast<int>(r.integer(sl, "E", "codecs.seedlm"));
  const PickleValue& taps = r.at(sl, "taps", "codecs.seedlm");
  for (const PickleValue& tap : taps.items) {
    if (tap.kind != Kind::kInt) throw input_error("'", path, "': codecs.seedlm.taps holds a ", kind_name(tap.kind));
    seedlm.taps.push_back(static_cast<int>(tap.integer));
  }
  try {
    seedlm.validate();
  } catch (const Error& e) {
    throw input_error("'", path, "': codecs.seedlm: ", e.what());
  }

  const PickleValue& bitnet = r.at(root, "bitnet", "");
  const bool enabled = r.boolean(bitnet, "enabled", "bitnet");
  const int64_t bits = r.integer(bitnet, "activation_bits", "bitnet");
  const bool per_row = r.boolean(bitnet, "per_row_scale", "bitnet");
  const int64_t group = find(bitnet, "scale_group") != nullptr ? r.integer(bitnet, "scale_group", "bitnet") : 0;
  const bool input_norm = r.boolean(bitnet, "input_norm", "bitnet");
  if (enabled) {
    if (bits != 0 && (bits < 2 || bits > 16)) {
      throw input_error("'", path, "': bitnet.activation_bits must be 0 (off) or in [2, 16], got ", bits);
    }
    if (group < 0) throw input_error("'", path, "': bitnet.scale_group must be >= 0, got ", group);
    if (group > 0 && !per_row) throw input_error("'", path, "': bitnet.scale_group (", group, ") needs bitnet.per_row_scale true");
    m.activations.bits = static_cast<int>(bits);
    m.activations.input_norm = input_norm;
  }
  (void)r.at(root, "training", "");
  (void)r.string(root, "metrics", "");

  // The entries, checked against the parameters the config implies.
  const PickleValue& tensors = r.at(root, "tensors", "");
  if (tensors.kind != Kind::kDict) throw input_error("'", path, "': field 'tensors' is not a dict");
  std::map<std::string, Entry> entries;
  for (const auto& [key, value] : tensors.entries) {
    if (key.kind != Kind::kString) throw input_error("'", path, "': tensors: a key is not a string");
    Entry e = read_entry(r, key.string, value);
    TensorInfo info;
    info.name = e.name;
    info.codec = e.codec;
    info.shape = e.shape;
    info.params = e.numel;
    info.stored_bytes = stored_bytes(r, e);
    m.tensors.push_back(info);
    entries[key.string] = std::move(e);
  }
  const int64_t C = c.dim, F = c.hidden_dim, D = c.head_dim(), V = c.vocab_size;
  std::map<std::string, std::vector<int64_t>> expected;
  expected["model.embed_tokens.weight"] = {V, C};
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    expected[p + "input_layernorm.weight"] = {C};
    expected[p + "post_attention_layernorm.weight"] = {C};
    expected[p + "self_attn.q_proj.weight"] = {c.n_heads * D, C};
    expected[p + "self_attn.k_proj.weight"] = {c.n_kv_heads * D, C};
    expected[p + "self_attn.v_proj.weight"] = {c.n_kv_heads * D, C};
    expected[p + "self_attn.o_proj.weight"] = {C, c.n_heads * D};
    if (c.attention_bias) {
      expected[p + "self_attn.q_proj.bias"] = {c.n_heads * D};
      expected[p + "self_attn.k_proj.bias"] = {c.n_kv_heads * D};
      expected[p + "self_attn.v_proj.bias"] = {c.n_kv_heads * D};
    }
    expected[p + "mlp.gate_proj.weight"] = {F, C};
    expected[p + "mlp.up_proj.weight"] = {F, C};
    expected[p + "mlp.down_proj.weight"] = {C, F};
  }
  expected["model.norm.weight"] = {C};
  if (!c.tie_embeddings) expected["lm_head.weight"] = {V, C};
  std::set<std::string> seen;
  for (const auto& [name, e] : entries) {
    if (name.find("rotary_emb.inv_freq") != std::string::npos) continue;  // HF buffer, recomputed
    if (name == "lm_head.weight" && c.tie_embeddings) continue;             // checked against the embedding below
    auto it = expected.find(name);
    if (it == expected.end()) throw input_error(path, ": unexpected tensor '", name, "' for this model config");
    if (it->second != e.shape) {
      std::string got = "[", want = "[";
      for (size_t i = 0; i < e.shape.size(); ++i) got += (i ? ", " : "") + std::to_string(e.shape[i]);
      for (size_t i = 0; i < it->second.size(); ++i) want += (i ? ", " : "") + std::to_string(it->second[i]);
      throw input_error(path, ": tensor '", name, "' has shape ", got, "], expected ", want, "]");
    }
    seen.insert(name);
  }
  for (const auto& [name, shape] : expected) {
    if (!seen.count(name)) throw input_error(path, ": tensor '", name, "' is missing");
  }

  auto vector = [&](const std::string& name) { return decode_float(r, entries.at(name), seedlm); };
  const bool int8_activations = m.activations.bits >= 2 && m.activations.bits <= 8;  // Session::Input::int8()
  auto projection = [&](const std::string& base, bool with_bias) {
    Projection p;
    const Entry& e = entries.at(base + ".weight");
    // Levels run on the integer kernel where the activations are int8, as
    // trits do; with float activations they stay on the dense path.
    if (e.codec == "ternary" || (e.codec == "levels" && int8_activations && !options.dense_levels)) {
      p.ternary = true;
      p.t = ternary_matrix(r, e);
    } else {
      p.d = dense_entry(r, e, seedlm, options.fp16_dense);
    }
    if (with_bias) p.bias = vector(base + ".bias");
    return p;
  };
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    Layer l;
    l.attn_norm = vector(p + "input_layernorm.weight");
    l.ffn_norm = vector(p + "post_attention_layernorm.weight");
    l.q = projection(p + "self_attn.q_proj", c.attention_bias);
    l.k = projection(p + "self_attn.k_proj", c.attention_bias);
    l.v = projection(p + "self_attn.v_proj", c.attention_bias);
    l.o = projection(p + "self_attn.o_proj", false);
    l.gate = projection(p + "mlp.gate_proj", false);
    l.up = projection(p + "mlp.up_proj", false);
    l.down = projection(p + "mlp.down_proj", false);
    m.layers.push_back(std::move(l));
  }
  m.final_norm = vector("model.norm.weight");

  const Entry& embed = entries.at("model.embed_tokens.weight");
  if (c.tie_embeddings) {
    std::vector<float> values = decode_float(r, embed, seedlm);
    auto head = entries.find("lm_head.weight");
    if (head != entries.end()) {
      // A tied checkpoint may still carry lm_head.weight; it must equal the embeddings.
      if (head->second.shape != embed.shape || decode_float(r, head->second, seedlm) != values) {
        throw input_error(path, ": config says tied embeddings but lm_head.weight differs from model.embed_tokens.weight");
      }
    }
    m.head = dense_matrix(std::move(values), V, C, options.fp16_dense);
  } else {
    m.head = dense_entry(r, entries.at("lm_head.weight"), seedlm, options.fp16_dense);
    if (embed.codec == "seedlm") {
      // Checked (and any corrupt block reported) by one full decode in slices.
      const Array scale = checked_scale(r, embed, 1, 1, false);
      const Array bytes = checked_bytes(r, embed, seedlm_stream_bytes(embed.numel, seedlm));
      SeedLMMatrix& s = m.embedding_seedlm;
      s.rows = V;
      s.cols = C;
      s.scale = scale.as_float(0);
      s.params = seedlm;
      s.bits.assign(bytes.data, bytes.data + bytes.numel);
      r.done(bytes);
      if (!std::isfinite(s.scale) || !(s.scale > 0.0f)) {
        throw input_error(describe(path, embed), ": SeedLM decode: scale ", s.scale, " is not a positive finite number");
      }
      std::vector<float> slice;
      const int64_t rows_per_slice = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(C, 1));
      for (int64_t row = 0; row < V; row += rows_per_slice) {
        const int64_t end = std::min(V, row + rows_per_slice);
        slice.resize(static_cast<size_t>((end - row) * C));
        try {
          seedlm_decode_range(s.bits.data(), s.bits.size(), V * C, s.scale, seedlm, row * C, end * C, slice.data());
        } catch (const Error& e) {
          throw input_error(describe(path, embed), ": ", e.what());
        }
        check_finite(slice.data(), static_cast<int64_t>(slice.size()), describe(path, embed));
      }
      m.embedding_is_seedlm = true;
    } else {
      m.embedding = dense_entry(r, embed, seedlm, options.fp16_dense);
    }
  }
  // The load's scratch (inflated records, unpacked values, decoded slices) is
  // freed by now; its pages go back, so that the resident set is the model's.
  release_free_memory();
  return model;
}

}  // namespace seedforge::infer
