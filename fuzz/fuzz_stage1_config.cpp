// Fuzz target: the Stage-1 JSON configuration (parse_stage1_config reads the
// text from memory and validates every key).
#include <cstdint>
#include <string>

#include "config/stage1_config.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  seedforge::fuzz::expect_clean_errors([&] {
    (void)seedforge::parse_stage1_config(std::string(reinterpret_cast<const char*>(data), size), "config.json");
  });
  return 0;
}
