// Llama2cTokenizer: the tokenizer.bin format of karpathy/llama2.c (run.c).
//
// File layout (little-endian), as written by llama2.c's tokenizer.py:
//   int32   max_token_length          longest piece in bytes
//   then, repeated until the end of the file (the vocabulary size is NOT
//   stored; it is the number of records read):
//     float32 score                   merge priority (higher merges first)
//     int32   length                  piece length in bytes, 0..max_token_length
//     uint8   bytes[length]           the piece (raw bytes, no terminator)
// Ids 0/1/2 are <unk>, BOS, EOS; ids 3..258 are the byte pieces <0x00>..<0xFF>.
//
// Encoding follows run.c's encode(): a dummy-prefix " " token for non-empty
// text, whole UTF-8 code points looked up (bytes as id byte+3 when absent), then
// greedy merges of the adjacent pair whose concatenation has the highest score.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace seedforge {

class Llama2cTokenizer : public Tokenizer {
 public:
  // Parses and validates a tokenizer.bin image; `where` (the path) names the
  // source in error messages.
  Llama2cTokenizer(const std::string& bytes, const std::string& where);

  std::vector<int32_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  std::string decode_piece(int32_t previous, int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  int32_t bos_id() const override { return kBos; }
  int32_t eos_id() const override { return kEos; }
  std::string kind() const override { return "llama2c"; }
  std::string to_bytes() const override { return bytes_; }

  // Straight port of run.c's O(n^2) merge loop: the reference the fast
  // encode() is tested against.
  std::vector<int32_t> encode_naive(const std::string& text) const;

  const std::string& piece(int32_t id) const;
  float score(int32_t id) const;
  int32_t max_token_length() const { return max_token_length_; }

  static constexpr int32_t kBos = 1;
  static constexpr int32_t kEos = 2;
  // Byte b is id b + kByteOffset when its code point is not in the vocabulary.
  static constexpr int32_t kByteOffset = 3;

 private:
  // The ids before merging: dummy prefix, code points, byte fallback.
  std::vector<int32_t> initial_ids(const std::string& text) const;
  int32_t lookup(const std::string& piece) const;
  void check_id(int32_t id) const;

  std::string bytes_;  // the file image, kept for to_bytes()
  std::string where_;
  int32_t max_token_length_ = 0;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int32_t> piece_to_id_;
};

}  // namespace seedforge
