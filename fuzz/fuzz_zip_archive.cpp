// Fuzz target: the zip container of .pt files. ZipReader maps a path, so the
// input goes through a file; every entry is then read with its CRC checked.
#include <cstdint>

#include "fuzz_util.h"
#include "io/zip_archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = seedforge::fuzz::write_file("input.zip", data, size);
  seedforge::fuzz::expect_clean_errors([&] {
    seedforge::ZipReader zip(path);
    for (const seedforge::ZipEntry& entry : zip.entries()) {
      seedforge::fuzz::expect_clean_errors([&] {
        (void)zip.find(entry.name);
        (void)zip.read_string(entry);
      });
    }
  });
  return 0;
}
