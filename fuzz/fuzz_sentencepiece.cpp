// Fuzz target: a SentencePiece .model (serialized ModelProto). The proto is
// parsed by libsentencepiece inside the dlopen()ed module; what this covers of
// our own code is the module boundary and SentencePieceTokenizer's checks of
// what the library hands back (vocabulary size, BOS/EOS, byte and control
// pieces) as encode/decode/decode_piece use them.
#include <cstdint>
#include <string>

#include "exercise_tokenizer.h"
#include "fuzz_util.h"
#include "tokenizer/sentencepiece_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  seedforge::fuzz::expect_clean_errors([&] {
    seedforge::SentencePieceTokenizer tokenizer(std::string(reinterpret_cast<const char*>(data), size), "tokenizer.model");
    seedforge::fuzz::exercise_tokenizer(tokenizer);
  });
  return 0;
}
