// One writer per output: "<output>.lock", held with flock(2) for as long as a
// run writes <output>, so that two runs given the same --output cannot both
// write it (their temporaries would race for the final rename and the report,
// log and checkpoints beside it would mix). The kernel releases a flock when
// its holder dies, kill -9 included, so a lock is never stale; a left-over
// lock file without a holder is simply taken over. Torch-free.
#pragma once

#include <string>

namespace seedforge {

class OutputLock {
 public:
  // Takes "<output>.lock" without waiting. Throws runtime_error
  //   "another run is writing '<output>' (lock '<output>.lock' held by pid N)..."
  // when another process holds it, runtime_error naming the lock file when it
  // cannot be created.
  explicit OutputLock(const std::string& output);
  // Removes the lock file and releases the lock.
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// "<output>.lock"
std::string lock_path_for(const std::string& output);

}  // namespace seedforge
