// Fuzz target: a PyTorch .pt / .bin / .ckpt checkpoint, the whole way a model
// file goes (zip container, restricted unpickler, storages joined to tensors,
// the state dict found, canonical names, config inferred from shapes).
// load_pt_checkpoint takes a path, so the input goes through a file.
#include <torch/torch.h>

#include <cstdint>

#include "fuzz_util.h"
#include "zip_mutator.h"
#include "io/pt_state_dict.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);  // fuzzing runs -j1 next to other work
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = seedforge::fuzz::write_file("model.pt", data, size);
  seedforge::fuzz::expect_clean_errors([&] { (void)seedforge::load_pt_checkpoint(path); });
  return 0;
}

// Mutates the records inside the archive too (zip_mutator.h says why).
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  return seedforge::fuzz::mutate_zip_records(data, size, max_size, seed);
}
