// Fuzz target: a Hugging Face tokenizer.json (BpeTokenizer parses the text
// from memory), then encoding and decoding with it.
#include <cstdint>
#include <string>

#include "exercise_tokenizer.h"
#include "fuzz_util.h"
#include "tokenizer/bpe_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  seedforge::fuzz::expect_clean_errors([&] {
    auto tokenizer =
        seedforge::BpeTokenizer::from_tokenizer_json(std::string(reinterpret_cast<const char*>(data), size), "tokenizer.json");
    seedforge::fuzz::exercise_tokenizer(*tokenizer);
  });
  return 0;
}
