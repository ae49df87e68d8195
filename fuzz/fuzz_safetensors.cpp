// Fuzz target: a .safetensors file. SafetensorsReader maps a path, so the
// input goes through a file; every tensor is then copied out in its stored
// dtype and converted to fp32, as the checkpoint loaders do.
#include <torch/torch.h>

#include <cstdint>

#include "fuzz_util.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);  // fuzzing runs -j1 next to other work
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = seedforge::fuzz::write_file("model.safetensors", data, size);
  seedforge::fuzz::expect_clean_errors([&] {
    seedforge::SafetensorsReader reader(path);
    for (const seedforge::SafetensorsEntry& entry : reader.entries()) {
      (void)reader.find(entry.name);
      (void)reader.tensor(entry);
      seedforge::fuzz::expect_clean_errors([&] { (void)reader.tensor(entry, torch::kFloat32); });
    }
  });
  return 0;
}
