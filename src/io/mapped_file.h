// A read-only memory mapping of a whole file, so that multi-GB checkpoints
// are read straight from the page cache instead of being copied into a buffer
// first. Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace seedforge {

class MappedFile {
 public:
  // Maps `path` read-only; throws input_error naming the path when it is
  // missing, a folder, or cannot be mapped. An empty file maps to size() 0.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Drops the resident pages that lie wholly inside [p, p + n) (madvise
  // MADV_DONTNEED): the bytes stay readable (a later read faults them back in
  // from the page cache) but stop counting in this process's RSS, so a reader
  // that has consumed a large record need not hold it. p must point into the map.
  void release(const void* p, size_t n) const;

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace seedforge
