// Helpers shared by the fuzz targets: handing the input to readers that only
// take a path, and the one rule every target applies to what a reader throws.
//
// The rule: a reader given bad bytes must throw seedforge::Error (common/
// error.h) with a message naming the file or field. Any other exception
// (std::out_of_range from a container, nlohmann::json or c10::Error leaking
// out of a reader, std::bad_alloc from a size taken on trust, ...) escapes the
// target, libFuzzer reports it as a crash, and it is a bug to fix like a
// sanitizer report.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.h"

namespace seedforge::fuzz {

// A folder of this process's own (several fuzzers may run side by side),
// removed at exit; in /dev/shm when there is one, because every execution
// writes a file and the writers fsync (on tmpfs both cost next to nothing).
// libFuzzer ends a -max_total_time run with _Exit, which skips atexit: so
// scripts/fuzz.sh names a parent folder in SEEDFORGE_FUZZ_SCRATCH and removes
// it after the target (a session once found 89 folders left in /dev/shm).
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::error_code ec;
    const char* given = std::getenv("SEEDFORGE_FUZZ_SCRATCH");
    const std::filesystem::path parent =
        given != nullptr && std::filesystem::is_directory(given, ec) ? std::filesystem::path(given)
        : std::filesystem::is_directory("/dev/shm", ec)             ? std::filesystem::path("/dev/shm")
                                                                     : std::filesystem::temp_directory_path();
    std::string tmpl = (parent / "seedforge_fuzz_XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

// Writes `size` bytes to `name` in the scratch folder (replacing what the
// previous input left there) and returns its path.
inline std::string write_file(const std::string& name, const void* data, size_t size) {
  const std::string path = (scratch_dir() / name).string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) std::abort();  // the harness itself failed, not the reader
  return path;
}

// Runs `read` on one input; seedforge::Error is the expected answer to bad
// bytes, everything else propagates (see above).
template <typename Read>
void expect_clean_errors(Read&& read) {
  try {
    read();
  } catch (const Error&) {
  }
}

}  // namespace seedforge::fuzz
