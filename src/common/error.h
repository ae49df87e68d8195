// seedforge::Error: the one exception type the library throws.
//
// Library code throws; only a tool's main() catches and maps the kind to an
// exit code (usage/config errors 2, everything else 1). Messages carry context:
// the file, tensor or key, what was expected and what was found.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace seedforge {

enum class ErrorKind {
  kUsage,    // bad command line or config: exit code 2
  kInput,    // missing, corrupt or inconsistent input file
  kRuntime,  // anything else (NaN loss, I/O failure while writing, ...)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// Stream-style message building: throw input_error("file ", path, ": truncated").
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

template <typename... Parts>
Error usage_error(const Parts&... parts) {
  return Error(ErrorKind::kUsage, concat(parts...));
}
template <typename... Parts>
Error input_error(const Parts&... parts) {
  return Error(ErrorKind::kInput, concat(parts...));
}
template <typename... Parts>
Error runtime_error(const Parts&... parts) {
  return Error(ErrorKind::kRuntime, concat(parts...));
}

}  // namespace seedforge
