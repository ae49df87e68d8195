// Fuzz target: a Hugging Face config.json (parse_hf_config reads the text from
// memory; the ModelConfig it returns has been validated).
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "io/hf_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  seedforge::fuzz::expect_clean_errors([&] {
    (void)seedforge::parse_hf_config(std::string(reinterpret_cast<const char*>(data), size), "config.json");
  });
  return 0;
}
