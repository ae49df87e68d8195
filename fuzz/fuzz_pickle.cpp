// Fuzz target: the restricted unpickler (unpickle reads from memory).
#include <cstdint>

#include "fuzz_util.h"
#include "io/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  seedforge::fuzz::expect_clean_errors([&] { (void)seedforge::unpickle(data, size, "data.pkl"); });
  return 0;
}
