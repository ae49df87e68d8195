// What the tokenizer fuzz targets do with a tokenizer that loaded: the calls
// the tools make (encode, decode, decode_piece over every id, to_bytes), so
// that a table built from bad bytes that only breaks at use is found too.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace seedforge::fuzz {

inline void exercise_tokenizer(const Tokenizer& tokenizer) {
  // Plain words, punctuation, digits, a merge-heavy run, multi-byte UTF-8,
  // SentencePiece's space marker, and invalid UTF-8 (lone continuation, 0xFF).
  static const std::string kText =
      "Once upon a time, Lily's mom said, \"Let's go!\" 2026\n\n  aaaa \xC3\xA9t\xC3\xA9 \xE2\x96\x81x "
      "\xF0\x9F\x98\x80 \x80\xFF<|endoftext|>";
  const std::vector<int32_t> ids = tokenizer.encode(kText);
  (void)tokenizer.decode(ids);
  // Every id once (bounded: a big vocabulary only slows the fuzzer down).
  const int32_t n = tokenizer.vocab_size() < 4096 ? tokenizer.vocab_size() : 4096;
  std::vector<int32_t> all;
  int32_t previous = tokenizer.bos_id();
  for (int32_t id = 0; id < n; ++id) {
    (void)tokenizer.decode_piece(previous, id);
    previous = id;
    all.push_back(id);
  }
  (void)tokenizer.decode(all);
  (void)tokenizer.to_bytes();
}

}  // namespace seedforge::fuzz
