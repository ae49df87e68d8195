// Fuzz target: a llama2.c model .bin (format sniffing, then the loader).
// Both take a path, so the input goes through a file.
#include <torch/torch.h>

#include <cstdint>

#include "fuzz_util.h"
#include "io/llama2c_reader.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);  // fuzzing runs -j1 next to other work
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = seedforge::fuzz::write_file("model.bin", data, size);
  seedforge::fuzz::expect_clean_errors([&] {
    (void)seedforge::looks_like_llama2c(path);
    (void)seedforge::load_llama2c(path);
  });
  return 0;
}
