// A torch.save zip (PyTorch >= 1.6) opened without libtorch: the archive's
// checks, its unpickled object and validated views of its storages, read in
// place from the file's memory mapping. io/pt_file.h builds torch tensors on
// top of it; the inference engine (src/infer) reads .stage1.pt files with it
// and never makes a tensor.
//
// Layout (docs/FORMAT.md, "PyTorch .pt"): one top-level folder <a>/ holding
//   <a>/data.pkl     the pickled object (io/pickle.h); tensors name storages by key
//   <a>/data/<key>   one record per storage: numel * element size raw little-endian bytes
//   <a>/version      a positive integer (optional)
//   <a>/byteorder    "little" (optional; "big" is refused)
// Checks, all before any storage is used: not a legacy (pre-1.6) file, a zip
// signature, every entry inside the one folder, data.pkl present, byteorder and
// version records well-formed. Per storage (storage()): a known storage type,
// the record present, its size numel * element size, one dtype and size per key,
// bool bytes 0 or 1. Per view (view()): non-negative offset, sizes and strides,
// and the highest element it touches inside its storage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "io/pickle.h"

namespace seedforge {

class ZipReader;
struct ZipEntry;

// A storage record: `numel` elements of `element_size` bytes at `bytes`
// (inside the mapping; not necessarily aligned to the element size).
struct PtStorage {
  const uint8_t* bytes = nullptr;
  int64_t numel = 0;
  size_t element_size = 0;
  std::string type;  // "FloatStorage", "HalfStorage", ...
};

class PtArchive {
 public:
  // Opens and checks the archive and unpickles data.pkl. Throws input_error
  // naming the path for a legacy file, a zip that is not a checkpoint, a
  // refused pickle, a big-endian byteorder record, ...
  explicit PtArchive(const std::string& path);
  ~PtArchive();
  PtArchive(const PtArchive&) = delete;
  PtArchive& operator=(const PtArchive&) = delete;

  const std::string& path() const { return path_; }
  const PickleValue& root() const { return root_; }

  // The storage a tensor lives in, checked (see the header comment).
  PtStorage storage(const PickleTensor& t);
  // Checks that the view (offset, sizes, strides) lies inside its storage and
  // returns the storage.
  PtStorage view(const PickleTensor& t);
  // Says that the n bytes at p (inside a storage) have been read, so that they
  // need not stay resident. A stored record's pages leave the resident set
  // (ZipReader::release) and stay readable; such a record also leaves it right
  // after its CRC-32 check, so that a reader that goes tensor by tensor never
  // holds the whole file. A deflated record is held inflated until every one
  // of its bytes has been released: then its copy is freed, pointers into it
  // are no longer valid, and a later storage() or view() inflates it again.
  void release(const uint8_t* p, size_t n);
  // Bytes of inflated records held now.
  uint64_t inflated_bytes() const;

 private:
  // A storage as checked (bytes nullptr once a deflated record's copy is
  // freed), and for a deflated record the byte ranges released so far
  // (begin -> end, disjoint).
  struct Held {
    PtStorage storage;
    const ZipEntry* entry = nullptr;
    std::map<uint64_t, uint64_t> released;
    uint64_t released_bytes = 0;
  };

  std::string path_;
  std::unique_ptr<ZipReader> zip_;
  std::string prefix_;
  PickleValue root_;
  std::unordered_map<std::string, Held> storages_;
};

// True for the pre-1.6 torch.save layouts (a bare pickle stream starting with
// PyTorch's magic number, or the older tar layout), which PtArchive refuses
// with advice to re-save.
bool looks_like_legacy_pt_file(const std::string& path);

// Number of elements a view touches (product of sizes; 0 for an empty view).
int64_t pickle_tensor_numel(const PickleTensor& t);
// True when the view is row-major contiguous (strides of a packed array).
bool pickle_tensor_is_contiguous(const PickleTensor& t);

}  // namespace seedforge
