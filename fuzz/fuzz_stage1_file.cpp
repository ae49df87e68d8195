// Fuzz target: a .stage1.pt file (read_stage1_file validates every field and
// decodes every tensor). It takes a path, so the input goes through a file.
#include <torch/torch.h>

#include <cstdint>

#include "fuzz_util.h"
#include "zip_mutator.h"
#include "pipeline/stage1_file.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);  // fuzzing runs -j1 next to other work
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = seedforge::fuzz::write_file("model.stage1.pt", data, size);
  seedforge::fuzz::expect_clean_errors([&] {
    (void)seedforge::is_stage1_file(path);
    (void)seedforge::read_stage1_file(path);
  });
  return 0;
}

// Mutates the records inside the archive too (zip_mutator.h says why).
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  return seedforge::fuzz::mutate_zip_records(data, size, max_size, seed);
}
