#include "io/output_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"
#include "common/fault_point.h"
#include "common/file_util.h"

namespace seedforge {

OutputFile::OutputFile(const std::string& path) : path_(path), tmp_path_(temporary_path_for(path)) {
  check_output_path_writable(path);
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw runtime_error("cannot create '", tmp_path_, "': ", std::strerror(errno));
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
}

void OutputFile::write(const void* data, size_t size) {
  if (fd_ < 0) throw runtime_error("write to '", path_, "' after commit");
  const char* p = static_cast<const char*>(data);
  size_t left = size;
  while (left > 0) {
    // Linux write() moves at most ~2 GiB at a time; loop until done.
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      // The destructor removes the temporary as the exception unwinds.
      throw runtime_error("cannot write '", path_, "': ", std::strerror(errno), " (the partial temporary '", tmp_path_,
                          "' is removed; an earlier '", path_, "' is untouched)");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  position_ += size;
  // The fault tests stop a writer here, with a partial temporary on disk.
  if (position_ == size && size > 0) fault_point("partial output");  // after the first piece
}

void OutputFile::write_zeros(size_t count) {
  static const char kZeros[4096] = {};
  while (count > 0) {
    const size_t n = count < sizeof(kZeros) ? count : sizeof(kZeros);
    write(kZeros, n);
    count -= n;
  }
}

void OutputFile::commit() {
  if (fd_ < 0) throw runtime_error("'", path_, "' committed twice");
  const int fd = fd_;
  fd_ = -1;
  if (::fsync(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw runtime_error("cannot flush '", tmp_path_, "': ", why);
  }
  if (::close(fd) != 0) throw runtime_error("cannot close '", tmp_path_, "': ", std::strerror(errno));
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    throw runtime_error("cannot rename '", tmp_path_, "' to '", path_, "': ", std::strerror(errno));
  }
  committed_ = true;
}

}  // namespace seedforge
