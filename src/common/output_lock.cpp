#include "common/output_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/error.h"

namespace seedforge {

namespace {

// The pid the holder wrote into the lock file ("" if it has not yet).
std::string holder_of(int fd) {
  char buffer[32] = {};
  const ssize_t n = ::pread(fd, buffer, sizeof(buffer) - 1, 0);
  std::string text(buffer, n > 0 ? size_t(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

std::string lock_path_for(const std::string& output) { return output + ".lock"; }

OutputLock::OutputLock(const std::string& output) : path_(lock_path_for(output)) {
  // A holder removes the file when it finishes. If that happens between our
  // open() and flock(), we hold a lock on a file nobody else will look at:
  // check that the locked file is still the one under the name, else retry.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw runtime_error("cannot create the lock file '", path_, "': ", std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int why = errno;
      const std::string holder = why == EWOULDBLOCK ? holder_of(fd) : "";
      ::close(fd);
      if (why == EWOULDBLOCK) {
        throw runtime_error("another run is writing '", output, "' (lock '", path_, "' held by ",
                            holder.empty() ? std::string("another process") : "pid " + holder,
                            "); wait for it to finish or choose another --output");
      }
      throw runtime_error("cannot lock '", path_, "': ", std::strerror(why));
    }
    struct stat locked = {};
    struct stat named = {};
    if (::fstat(fd, &locked) == 0 && ::stat(path_.c_str(), &named) == 0 && locked.st_dev == named.st_dev &&
        locked.st_ino == named.st_ino) {
      fd_ = fd;
      break;
    }
    ::close(fd);
  }
  if (fd_ < 0) throw runtime_error("cannot lock '", path_, "': it keeps being replaced");
  const std::string pid = std::to_string(::getpid()) + "\n";
  // The pid is only for the message of a refused run; failing to record it is harmless.
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, pid.data(), pid.size(), 0);
}

OutputLock::~OutputLock() {
  // Unlink while still holding the lock: a run that opened the old file meanwhile
  // sees that it no longer carries the name and retries with a new one.
  ::unlink(path_.c_str());
  ::close(fd_);
}

}  // namespace seedforge
