// Fuzz target: a llama2.c tokenizer.bin image (Llama2cTokenizer parses it
// from memory), then encoding and decoding with whatever it built.
#include <cstdint>
#include <string>

#include "exercise_tokenizer.h"
#include "fuzz_util.h"
#include "tokenizer/llama2c_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  seedforge::fuzz::expect_clean_errors([&] {
    seedforge::Llama2cTokenizer tokenizer(std::string(reinterpret_cast<const char*>(data), size), "tokenizer.bin");
    seedforge::fuzz::exercise_tokenizer(tokenizer);
  });
  return 0;
}
