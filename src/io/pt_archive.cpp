#include "io/pt_archive.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "common/error.h"
#include "io/zip_archive.h"

namespace seedforge {

PtArchive::PtArchive(const std::string& path) : path_(path) {
  if (looks_like_legacy_pt_file(path)) {
    throw input_error("'", path, "' is in PyTorch's legacy (pre-1.6, non-zip) format or is a bare pickle, "
                      "which is not supported; re-save it with torch.save(obj, path) in PyTorch >= 1.6 "
                      "(the default zip format)");
  }
  {
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    if (!in) throw input_error("cannot open '", path, "'");
    in.read(magic, 4);
    if (in.gcount() < 4 || std::memcmp(magic, "PK", 2) != 0) {
      throw input_error("'", path, "' is not a PyTorch checkpoint (no zip signature at the start)");
    }
  }
  zip_ = std::make_unique<ZipReader>(path);
  const auto& entries = zip_->entries();
  if (entries.empty()) throw input_error("'", path_, "' is an empty zip archive, not a PyTorch checkpoint");
  const std::string& first = entries.front().name;
  const size_t slash = first.find('/');
  if (slash == std::string::npos || slash == 0) {
    throw input_error("'", path_, "' is a zip archive but not a PyTorch checkpoint (entry '", first,
                      "' is not inside a top-level folder)");
  }
  prefix_ = first.substr(0, slash + 1);
  for (const ZipEntry& e : entries) {
    if (e.name.compare(0, prefix_.size(), prefix_) != 0) {
      throw input_error("'", path_, "' is a zip archive but not a PyTorch checkpoint (entries '", first, "' and '",
                        e.name, "' are in different top-level folders)");
    }
  }
  const ZipEntry* pkl = zip_->find(prefix_ + "data.pkl");
  if (pkl == nullptr) {
    throw input_error("'", path_, "' is a zip archive but not a PyTorch checkpoint (no ", prefix_, "data.pkl record)");
  }
  if (const ZipEntry* bo = zip_->find(prefix_ + "byteorder")) {
    const std::string order = zip_->read_string(*bo);
    if (order != "little") {
      throw input_error("'", path_, "': byteorder record says '", order, "'; only little-endian files are supported");
    }
  }
  if (const ZipEntry* ver = zip_->find(prefix_ + "version")) {
    const std::string text = zip_->read_string(*ver);
    char* end = nullptr;
    const long v = std::strtol(text.c_str(), &end, 10);
    if (end == text.c_str() || v < 1) {
      throw input_error("'", path_, "': version record '", text, "' is not a positive integer");
    }
  }
  root_ = unpickle(zip_->data(*pkl), static_cast<size_t>(pkl->size), concat("'", path_, "' ", pkl->name));
  zip_->discard(*pkl);  // its inflated copy, if deflated: root_ holds what it said
}

PtArchive::~PtArchive() = default;

PtStorage PtArchive::storage(const PickleTensor& t) {
  const std::string record = prefix_ + "data/" + t.storage_key;
  const size_t elem = pickle_storage_element_size(t.storage_type);
  if (elem == 0) throw input_error("'", path_, "' ", record, ": unsupported storage type '", t.storage_type, "'");
  auto it = storages_.find(t.storage_key);
  if (it != storages_.end()) {
    if (it->second.storage.type != t.storage_type || it->second.storage.numel != t.storage_numel) {
      throw input_error("'", path_, "': storage '", t.storage_key, "' is used as both ", it->second.storage.type, "[",
                        it->second.storage.numel, "] and ", t.storage_type, "[", t.storage_numel, "]");
    }
    Held& h = it->second;
    if (h.storage.bytes == nullptr && h.entry->size > 0) {  // released whole and freed: inflated again
      h.storage.bytes = zip_->data(*h.entry);
      h.released.clear();
      h.released_bytes = 0;
    }
    return h.storage;
  }
  const ZipEntry* e = zip_->find(record);
  if (e == nullptr) throw input_error("'", path_, "': storage record '", record, "' is missing");
  if (t.storage_numel < 0 || static_cast<uint64_t>(t.storage_numel) > std::numeric_limits<uint64_t>::max() / elem ||
      e->size != static_cast<uint64_t>(t.storage_numel) * elem) {
    throw input_error("'", path_, "': storage record '", record, "' holds ", e->size, " bytes, expected ",
                      t.storage_numel, " x ", elem, " bytes (", t.storage_type, ")");
  }
  const uint8_t* bytes = zip_->data(*e);
  zip_->release(bytes, static_cast<size_t>(e->size));  // checked; read again tensor by tensor
  if (t.storage_type == "BoolStorage") {
    for (uint64_t i = 0; i < e->size; ++i) {
      if (bytes[i] > 1) {
        throw input_error("'", path_, "': bool storage '", record, "' holds byte ", int{bytes[i]}, " at ", i);
      }
    }
  }
  PtStorage s;
  s.bytes = bytes;
  s.numel = t.storage_numel;
  s.element_size = elem;
  s.type = t.storage_type;
  Held held;
  held.storage = s;
  held.entry = e;
  storages_.emplace(t.storage_key, std::move(held));
  return s;
}

PtStorage PtArchive::view(const PickleTensor& t) {
  PtStorage s = storage(t);
  const std::string where = concat("'", path_, "': tensor on storage '", t.storage_key, "'");
  if (t.storage_offset < 0) throw input_error(where, " has negative offset ", t.storage_offset);
  if (t.size.size() != t.stride.size()) throw input_error(where, " has ", t.size.size(), " sizes but ", t.stride.size(), " strides");
  // Highest element index the view touches, checked against the storage size.
  bool empty = false;
  for (size_t d = 0; d < t.size.size(); ++d) {
    if (t.size[d] < 0 || t.stride[d] < 0) throw input_error(where, " has negative size or stride in dim ", d);
    if (t.size[d] == 0) empty = true;
  }
  if (!empty) {
    __int128 last = t.storage_offset;
    for (size_t d = 0; d < t.size.size(); ++d) last += static_cast<__int128>(t.size[d] - 1) * t.stride[d];
    if (last >= static_cast<__int128>(t.storage_numel)) {
      throw input_error(where, " (offset ", t.storage_offset, ", ", t.size.size(),
                        " dims) reaches past the end of its storage of ", t.storage_numel, " elements");
    }
  } else if (t.storage_offset > t.storage_numel) {
    throw input_error(where, " offset ", t.storage_offset, " is past its storage of ", t.storage_numel);
  }
  return s;
}

void PtArchive::release(const uint8_t* p, size_t n) {
  for (auto& held : storages_) {
    Held& h = held.second;
    const uint64_t size = h.entry->size;
    if (h.storage.bytes == nullptr || p < h.storage.bytes || p >= h.storage.bytes + size) continue;
    if (!zip_->is_inflated(*h.entry)) {
      zip_->release(p, n);
      return;
    }
    // Merge [begin, end) into the released ranges, counting only new bytes.
    uint64_t begin = static_cast<uint64_t>(p - h.storage.bytes);
    uint64_t end = begin + std::min<uint64_t>(n, size - begin);
    auto next = h.released.upper_bound(begin);
    if (next != h.released.begin() && std::prev(next)->second >= begin) --next;
    while (next != h.released.end() && next->first <= end) {
      begin = std::min(begin, next->first);
      end = std::max(end, next->second);
      h.released_bytes -= next->second - next->first;
      next = h.released.erase(next);
    }
    h.released.emplace(begin, end);
    h.released_bytes += end - begin;
    if (h.released_bytes == size) {
      zip_->discard(*h.entry);
      h.storage.bytes = nullptr;
    }
    return;
  }
}

uint64_t PtArchive::inflated_bytes() const { return zip_->inflated_bytes(); }

bool looks_like_legacy_pt_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  unsigned char head[512] = {};
  in.read(reinterpret_cast<char*>(head), sizeof(head));
  const std::streamsize n = in.gcount();
  // pickle PROTO 2, then LONG1 of 10 bytes: 0x1950a86a20f9469cfc6c, PyTorch's legacy magic number.
  static const unsigned char kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                               0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  if (n >= static_cast<std::streamsize>(sizeof(kLegacyMagic)) &&
      std::memcmp(head, kLegacyMagic, sizeof(kLegacyMagic)) == 0) {
    return true;
  }
  // Even older torch.save wrote a tar archive ("ustar" at offset 257) holding pickles.
  if (n >= 262 && std::memcmp(head + 257, "ustar", 5) == 0) return true;
  // Any other bare pickle stream (a PROTO opcode first) is what pickle.dump or a
  // legacy save produced.
  return n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5;
}

int64_t pickle_tensor_numel(const PickleTensor& t) {
  int64_t n = 1;
  for (int64_t s : t.size) {
    if (s <= 0) return 0;
    if (__builtin_mul_overflow(n, s, &n)) return std::numeric_limits<int64_t>::max();
  }
  return n;
}

bool pickle_tensor_is_contiguous(const PickleTensor& t) {
  int64_t expected = 1;
  for (size_t d = t.size.size(); d-- > 0;) {
    if (t.size[d] != 1 && t.stride[d] != expected) return false;
    if (__builtin_mul_overflow(expected, t.size[d], &expected)) return false;
  }
  return true;
}

}  // namespace seedforge
