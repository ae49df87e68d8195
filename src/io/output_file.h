// A file written in pieces under a temporary name and renamed into place by
// commit(), for outputs too large to assemble in memory first (zip archives,
// safetensors). Destroying an uncommitted OutputFile removes the temporary,
// so a failure never leaves a partial file under the final name. Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace seedforge {

class OutputFile {
 public:
  // Creates temporary_path_for(path); throws usage_error when the folder is
  // missing or not writable, runtime_error when the file cannot be created.
  explicit OutputFile(const std::string& path);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(const void* data, size_t size);
  void write_zeros(size_t count);
  uint64_t position() const { return position_; }
  // fsync, close, rename to the final path.
  void commit();

  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_path_;
  int fd_ = -1;
  uint64_t position_ = 0;
  bool committed_ = false;
};

}  // namespace seedforge
