// Tokenizer: the interface every tokenizer kind implements. Torch-free.
// Kinds: "llama2c" (llama2c_tokenizer.h, llama2.c tokenizer.bin),
// "sentencepiece" (sentencepiece_tokenizer.h, SentencePiece .model),
// "bpe" (bpe_tokenizer.h, GPT-2 byte-level BPE: encoder.json+vocab.bpe,
// vocab.json+merges.txt, HF tokenizer.json). Encoding is const and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace seedforge {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Text to ids, without BOS/EOS (callers add BOS where the protocol wants it).
  virtual std::vector<int32_t> encode(const std::string& text) const = 0;
  // Ids to text. Special tokens (BOS/EOS) decode to nothing.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // The text piece of one id as it should be printed after `previous`
  // (llama2.c drops the leading space after BOS and turns <0xXX> into a byte).
  virtual std::string decode_piece(int32_t previous, int32_t id) const = 0;

  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;
  virtual int32_t eos_id() const = 0;
  // "llama2c", "sentencepiece", "bpe": stored in .stage1.pt files.
  virtual std::string kind() const = 0;
  // The bytes that load_tokenizer_from_bytes(kind(), bytes, ...) turns back into
  // an equivalent tokenizer (what a .stage1.pt file stores): the file image for
  // "llama2c", the serialized ModelProto for "sentencepiece", a tokenizer.json
  // for "bpe" (also when loaded from vocab.json+merges.txt / encoder.json+vocab.bpe).
  virtual std::string to_bytes() const = 0;
};

// Opens a tokenizer by path (tokenizer_factory.cpp): a llama2.c tokenizer.bin,
// SentencePiece .model or tokenizer.json file (told apart by content); an
// encoder.json / vocab.json whose vocab.bpe / merges.txt sits beside it; or a
// folder holding tokenizer.json, tokenizer.model, vocab.json+merges.txt,
// encoder.json+vocab.bpe or tokenizer.bin. Throws input_error naming the path.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// The same, from the raw bytes of a tokenizer file of a known kind (as stored
// inside a .stage1.pt file). `kind` is what Tokenizer::kind() returned.
std::unique_ptr<Tokenizer> load_tokenizer_from_bytes(const std::string& kind, const std::string& bytes,
                                                     const std::string& where);

}  // namespace seedforge
