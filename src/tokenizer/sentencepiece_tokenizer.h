// SentencePieceTokenizer: a SentencePiece .model (serialized ModelProto, e.g.
// Llama 2's tokenizer.model) through libsentencepiece.
//
// Encoding and decoding are the library's own (EncodeAsIds / DecodeIds), so
// the results equal spm_encode / spm_decode for the same model. The library
// lives in a dlopen()ed module (spm_module_api.h says why): found at
// $SEEDFORGE_SPM_MODULE, else where the build put it, else beside the program.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace seedforge {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // `bytes`: the serialized ModelProto (the .model file's content); `where`
  // names its source in error messages.
  SentencePieceTokenizer(const std::string& bytes, const std::string& where);
  ~SentencePieceTokenizer() override;

  std::vector<int32_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  // The piece with U+2581 as ' ', byte pieces as their byte, control pieces
  // as nothing; the leading space is dropped after BOS (as llama2.c prints).
  std::string decode_piece(int32_t previous, int32_t id) const override;
  int32_t vocab_size() const override;
  // -1 when the model defines none.
  int32_t bos_id() const override;
  int32_t eos_id() const override;
  std::string kind() const override { return "sentencepiece"; }
  std::string to_bytes() const override;

  struct Module;  // the dlopen()ed module's entry points

 private:
  void check_id(int32_t id) const;
  std::string piece(int32_t id) const;

  std::string where_;
  const Module* module_ = nullptr;  // process-wide, loaded once
  void* handle_ = nullptr;
  int32_t vocab_size_ = 0, bos_id_ = -1, eos_id_ = -1;
};

}  // namespace seedforge
