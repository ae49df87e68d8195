#include "io/pt_file.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <unordered_map>

#include "common/error.h"
#include "io/pickle.h"
#include "io/pt_archive.h"
#include "io/zip_archive.h"

namespace seedforge {

// ---------------------------------------------------------------- PtValue

PtValue PtValue::of_bool(bool v) {
  PtValue x;
  x.kind_ = Kind::kBool;
  x.bool_ = v;
  return x;
}
PtValue PtValue::of_int(int64_t v) {
  PtValue x;
  x.kind_ = Kind::kInt;
  x.int_ = v;
  return x;
}
PtValue PtValue::of_double(double v) {
  PtValue x;
  x.kind_ = Kind::kDouble;
  x.double_ = v;
  return x;
}
PtValue PtValue::of_string(std::string v) {
  PtValue x;
  x.kind_ = Kind::kString;
  x.string_ = std::move(v);
  return x;
}
PtValue PtValue::of_tensor(torch::Tensor v) {
  PtValue x;
  x.kind_ = Kind::kTensor;
  x.tensor_ = std::move(v);
  return x;
}
PtValue PtValue::new_list(std::vector<PtValue> items) {
  PtValue x;
  x.kind_ = Kind::kList;
  x.items_ = std::move(items);
  return x;
}
PtValue PtValue::new_tuple(std::vector<PtValue> items) {
  PtValue x;
  x.kind_ = Kind::kTuple;
  x.items_ = std::move(items);
  return x;
}
PtValue PtValue::new_dict() {
  PtValue x;
  x.kind_ = Kind::kDict;
  return x;
}

const char* PtValue::kind_name() const {
  switch (kind_) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kDouble: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return "list";
    case Kind::kTuple: return "tuple";
    case Kind::kDict: return "dict";
    case Kind::kTensor: return "tensor";
  }
  return "?";
}

namespace {
const char* kind_label(PtValue::Kind k) {
  switch (k) {
    case PtValue::Kind::kNone: return "None";
    case PtValue::Kind::kBool: return "bool";
    case PtValue::Kind::kInt: return "int";
    case PtValue::Kind::kDouble: return "float";
    case PtValue::Kind::kString: return "str";
    case PtValue::Kind::kList: return "list";
    case PtValue::Kind::kTuple: return "tuple";
    case PtValue::Kind::kDict: return "dict";
    case PtValue::Kind::kTensor: return "tensor";
  }
  return "?";
}
}  // namespace

void PtValue::expect(Kind k) const {
  if (kind_ != k) throw input_error("expected a value of type ", kind_label(k), ", got ", kind_name());
}

bool PtValue::as_bool() const {
  expect(Kind::kBool);
  return bool_;
}
int64_t PtValue::as_int() const {
  expect(Kind::kInt);
  return int_;
}
double PtValue::as_double() const {
  if (kind_ == Kind::kInt) return static_cast<double>(int_);
  expect(Kind::kDouble);
  return double_;
}
const std::string& PtValue::as_string() const {
  expect(Kind::kString);
  return string_;
}
const torch::Tensor& PtValue::as_tensor() const {
  expect(Kind::kTensor);
  return tensor_;
}
const std::vector<PtValue>& PtValue::items() const {
  if (kind_ != Kind::kList && kind_ != Kind::kTuple) throw input_error("expected a list or tuple, got ", kind_name());
  return items_;
}
std::vector<PtValue>& PtValue::items() {
  if (kind_ != Kind::kList && kind_ != Kind::kTuple) throw input_error("expected a list or tuple, got ", kind_name());
  return items_;
}
const std::vector<std::pair<PtValue, PtValue>>& PtValue::entries() const {
  expect(Kind::kDict);
  return entries_;
}
std::vector<std::pair<PtValue, PtValue>>& PtValue::entries() {
  expect(Kind::kDict);
  return entries_;
}

const PtValue* PtValue::find(const std::string& key) const {
  expect(Kind::kDict);
  for (const auto& kv : entries_) {
    if (kv.first.kind_ == Kind::kString && kv.first.string_ == key) return &kv.second;
  }
  return nullptr;
}

const PtValue& PtValue::at(const std::string& key) const {
  const PtValue* v = find(key);
  if (v == nullptr) throw input_error("missing key '", key, "'");
  return *v;
}

PtValue& PtValue::set(const std::string& key, PtValue value) {
  expect(Kind::kDict);
  for (auto& kv : entries_) {
    if (kv.first.kind_ == Kind::kString && kv.first.string_ == key) {
      kv.second = std::move(value);
      return kv.second;
    }
  }
  entries_.emplace_back(of_string(key), std::move(value));
  return entries_.back().second;
}

PtValue& PtValue::set(int64_t key, PtValue value) {
  expect(Kind::kDict);
  for (auto& kv : entries_) {
    if (kv.first.kind_ == Kind::kInt && kv.first.int_ == key) {
      kv.second = std::move(value);
      return kv.second;
    }
  }
  entries_.emplace_back(of_int(key), std::move(value));
  return entries_.back().second;
}

void PtValue::append(PtValue value) { items().push_back(std::move(value)); }

// ---------------------------------------------------------------- dtypes

namespace {

struct DtypeName {
  const char* storage_type;
  torch::ScalarType dtype;
};
constexpr DtypeName kDtypes[] = {
    {"FloatStorage", torch::kFloat32}, {"HalfStorage", torch::kFloat16}, {"BFloat16Storage", torch::kBFloat16},
    {"DoubleStorage", torch::kFloat64}, {"LongStorage", torch::kInt64}, {"IntStorage", torch::kInt32},
    {"ShortStorage", torch::kInt16},   {"CharStorage", torch::kInt8},   {"ByteStorage", torch::kUInt8},
    {"BoolStorage", torch::kBool},
};

torch::ScalarType dtype_of_storage(const std::string& storage_type, const std::string& where) {
  for (const DtypeName& d : kDtypes) {
    if (storage_type == d.storage_type) return d.dtype;
  }
  throw input_error(where, ": unsupported storage type '", storage_type, "'");
}

const char* storage_of_dtype(torch::ScalarType dtype) {
  for (const DtypeName& d : kDtypes) {
    if (dtype == d.dtype) return d.storage_type;
  }
  throw runtime_error("cannot save a tensor of dtype ", c10::toString(dtype),
                      " (supported: float32/16, bfloat16, float64, int64/32/16/8, uint8, bool)");
}

// ---------------------------------------------------------------- reading

class PtReader {
 public:
  explicit PtReader(const std::string& path) : archive_(path) {}

  PtValue read() { return convert(archive_.root()); }

 private:
  PtValue convert(const PickleValue& v) {
    switch (v.kind) {
      case PickleValue::Kind::kNone: return PtValue::none();
      case PickleValue::Kind::kBool: return PtValue::of_bool(v.boolean);
      case PickleValue::Kind::kInt: return PtValue::of_int(v.integer);
      case PickleValue::Kind::kFloat: return PtValue::of_double(v.real);
      case PickleValue::Kind::kString: return PtValue::of_string(v.string);
      case PickleValue::Kind::kList:
      case PickleValue::Kind::kTuple: {
        std::vector<PtValue> items;
        items.reserve(v.items.size());
        for (const auto& x : v.items) items.push_back(convert(x));
        return v.kind == PickleValue::Kind::kList ? PtValue::new_list(std::move(items))
                                                  : PtValue::new_tuple(std::move(items));
      }
      case PickleValue::Kind::kDict: {
        PtValue d = PtValue::new_dict();
        d.entries().reserve(v.entries.size());
        for (const auto& kv : v.entries) d.entries().emplace_back(convert(kv.first), convert(kv.second));
        return d;
      }
      case PickleValue::Kind::kTensor: return PtValue::of_tensor(tensor(v.tensor));
    }
    throw input_error("'", archive_.path(), "': unknown pickle value");
  }

  // The storage as a 1-D tensor of its dtype, read once and shared by every
  // view (the archive checks record, size, dtype and the view's bounds).
  torch::Tensor tensor(const PickleTensor& t) {
    const PtStorage s = archive_.view(t);
    auto it = storages_.find(t.storage_key);
    if (it == storages_.end()) {
      const torch::ScalarType dtype = dtype_of_storage(s.type, concat("'", archive_.path(), "' ", t.storage_key));
      torch::Tensor copy = torch::empty({s.numel}, torch::TensorOptions().dtype(dtype));
      const size_t bytes = static_cast<size_t>(s.numel) * s.element_size;
      if (bytes > 0) std::memcpy(copy.data_ptr(), s.bytes, bytes);
      it = storages_.emplace(t.storage_key, copy).first;
    }
    return it->second.as_strided(t.size, t.stride, t.storage_offset);
  }

  PtArchive archive_;
  std::unordered_map<std::string, torch::Tensor> storages_;
};

// ---------------------------------------------------------------- writing

class PtWriter {
 public:
  PickleValue convert(const PtValue& v) {
    PickleValue p;
    switch (v.kind()) {
      case PtValue::Kind::kNone: p.kind = PickleValue::Kind::kNone; break;
      case PtValue::Kind::kBool: p.kind = PickleValue::Kind::kBool; p.boolean = v.as_bool(); break;
      case PtValue::Kind::kInt: p.kind = PickleValue::Kind::kInt; p.integer = v.as_int(); break;
      case PtValue::Kind::kDouble: p.kind = PickleValue::Kind::kFloat; p.real = v.as_double(); break;
      case PtValue::Kind::kString: p.kind = PickleValue::Kind::kString; p.string = v.as_string(); break;
      case PtValue::Kind::kList:
      case PtValue::Kind::kTuple:
        p.kind = v.is(PtValue::Kind::kList) ? PickleValue::Kind::kList : PickleValue::Kind::kTuple;
        for (const auto& x : v.items()) p.items.push_back(convert(x));
        break;
      case PtValue::Kind::kDict:
        p.kind = PickleValue::Kind::kDict;
        for (const auto& kv : v.entries()) p.entries.emplace_back(convert(kv.first), convert(kv.second));
        break;
      case PtValue::Kind::kTensor:
        p.kind = PickleValue::Kind::kTensor;
        p.tensor = tensor(v.as_tensor());
        break;
    }
    return p;
  }

  struct Storage {
    std::string key;
    torch::Tensor owner;  // keeps the bytes alive until written
    const void* data;
    size_t nbytes;
  };
  std::vector<Storage> storages;

 private:
  PickleTensor tensor(const torch::Tensor& input) {
    if (!input.defined()) throw runtime_error("cannot save an undefined tensor");
    if (input.layout() != torch::kStrided || input.is_quantized()) {
      throw runtime_error("cannot save a sparse or quantized tensor");
    }
    torch::Tensor t = input.is_cpu() ? input : input.cpu();
    if (t.is_conj() || t.is_neg()) t = t.resolve_conj().resolve_neg();
    PickleTensor p;
    p.storage_type = storage_of_dtype(t.scalar_type());
    p.location = "cpu";
    p.requires_grad = false;
    const size_t elem = t.element_size();
    if (t.numel() == 0) t = torch::empty(t.sizes(), t.options());  // no storage bytes worth sharing
    p.size = t.sizes().vec();
    p.stride = t.strides().vec();
    p.storage_offset = t.storage_offset();
    // A storage viewed with two dtypes is stored twice: the file format types storages.
    const std::pair<const void*, int> impl{t.storage().unsafeGetStorageImpl(), static_cast<int>(t.scalar_type())};
    auto it = index_.find(impl);
    if (it == index_.end()) {
      const size_t nbytes = t.storage().nbytes();
      const char* base = t.numel() == 0 ? nullptr : static_cast<const char*>(t.data_ptr()) - t.storage_offset() * elem;
      Storage s{std::to_string(storages.size()), t, base, nbytes};
      it = index_.emplace(impl, storages.size()).first;
      storages.push_back(s);
    }
    const Storage& s = storages[it->second];
    p.storage_key = s.key;
    p.storage_numel = static_cast<int64_t>(s.nbytes / elem);
    return p;
  }

  std::map<std::pair<const void*, int>, size_t> index_;
};

std::string archive_name_for(const std::string& path) {
  const std::string stem = std::filesystem::path(path).stem().string();
  if (stem.empty()) return "archive";
  for (char c : stem) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return "archive";
  }
  return stem;
}

}  // namespace

PtValue read_pt_file(const std::string& path) {
  PtReader reader(path);
  return reader.read();
}

void write_pt_file(const std::string& path, const PtValue& root, bool deflate_entries) {
  PtWriter w;
  const PickleValue pickled = w.convert(root);
  const std::string pkl = pickle_dumps(pickled);
  const std::string folder = archive_name_for(path);
  ZipWriterOptions options;
  options.deflate = deflate_entries;
  ZipWriter zip(path, options);
  zip.add(folder + "/data.pkl", pkl.data(), pkl.size());
  zip.add(folder + "/byteorder", "little", 6);
  for (const auto& s : w.storages) zip.add(folder + "/data/" + s.key, s.data, s.nbytes);
  zip.add(folder + "/version", "3\n", 2);
  zip.finish();
}

}  // namespace seedforge
