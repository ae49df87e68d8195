#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include "common/error.h"

namespace seedforge {
namespace {

const std::string kSpaceMarker = "\xE2\x96\x81";  // U+2581, SentencePiece's space
const std::string kUnknownSurface = " \xE2\x81\x87 ";  // " ⁇ ", what DecodeIds prints for <unk>

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& bytes, const std::string& where)
    : where_(where), processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  const auto status = processor_->LoadFromSerializedProto(bytes);
  if (!status.ok()) {
    throw input_error("SentencePiece model '", where, "': cannot parse the ModelProto (", bytes.size(),
                      " bytes): ", status.ToString());
  }
  if (processor_->GetPieceSize() <= 0) throw input_error("SentencePiece model '", where, "': empty vocabulary");
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

int32_t SentencePieceTokenizer::vocab_size() const { return processor_->GetPieceSize(); }
int32_t SentencePieceTokenizer::bos_id() const { return processor_->bos_id(); }
int32_t SentencePieceTokenizer::eos_id() const { return processor_->eos_id(); }

std::string SentencePieceTokenizer::to_bytes() const {
  return processor_->serialized_model_proto();
}

void SentencePieceTokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= vocab_size()) {
    throw input_error("SentencePiece model '", where_, "': token id ", id, " is out of range [0, ", vocab_size(), ")");
  }
}

std::vector<int32_t> SentencePieceTokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  const auto status = processor_->Encode(text, &ids);
  if (!status.ok()) throw runtime_error("SentencePiece model '", where_, "': encode failed: ", status.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode(const std::vector<int32_t>& ids) const {
  for (const int32_t id : ids) check_id(id);
  std::string text;
  const auto status = processor_->Decode(std::vector<int>(ids.begin(), ids.end()), &text);
  if (!status.ok()) throw runtime_error("SentencePiece model '", where_, "': decode failed: ", status.ToString());
  return text;
}

std::string SentencePieceTokenizer::decode_piece(int32_t previous, int32_t id) const {
  check_id(id);
  if (processor_->IsControl(id)) return "";
  if (processor_->IsUnknown(id)) return kUnknownSurface;
  const std::string& piece = processor_->IdToPiece(id);
  if (processor_->IsByte(id)) {
    // Byte pieces are "<0xXX>".
    return std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
  }
  std::string text;
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpaceMarker.size(), kSpaceMarker) == 0) {
      text += ' ';
      i += kSpaceMarker.size();
    } else {
      text += piece[i++];
    }
  }
  if (previous == bos_id() && previous >= 0 && !text.empty() && text[0] == ' ') text.erase(0, 1);
  return text;
}

}  // namespace seedforge
