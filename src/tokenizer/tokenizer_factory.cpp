// load_tokenizer / load_tokenizer_from_bytes: pick the tokenizer kind from a
// path (folder contents, file name, file content) or from a stored kind name.
//
// Detection, in order:
//   folder            tokenizer.json > tokenizer.model > vocab.json+merges.txt > tokenizer.bin
//   X.json beside a GPT-2 merges file (encoder.json + vocab.bpe, vocab.json + merges.txt)
//   file content      '{' first: HF tokenizer.json; 0x0A then a non-zero byte:
//                     SentencePiece ModelProto (field 1 "pieces", length-delimited);
//                     anything else: llama2.c tokenizer.bin (int32 max_token_length first,
//                     so its second byte is 0 for any length below 256)
#include <filesystem>

#include "common/error.h"
#include "common/file_util.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace seedforge {
namespace {

namespace fs = std::filesystem;

bool is_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

// The merges file that goes with a GPT-2 style vocabulary .json, or "".
std::string merges_beside(const fs::path& vocab_json) {
  const fs::path dir = vocab_json.parent_path();
  const std::string name = vocab_json.filename().string();
  if (name == "encoder.json" && is_file(dir / "vocab.bpe")) return (dir / "vocab.bpe").string();
  if (name == "vocab.json" && is_file(dir / "merges.txt")) return (dir / "merges.txt").string();
  return "";
}

std::unique_ptr<Tokenizer> load_folder(const fs::path& dir) {
  if (is_file(dir / "tokenizer.json")) {
    return BpeTokenizer::from_tokenizer_json_file((dir / "tokenizer.json").string());
  }
  if (is_file(dir / "tokenizer.model")) return load_tokenizer((dir / "tokenizer.model").string());
  for (const char* vocab : {"vocab.json", "encoder.json"}) {
    const std::string merges = merges_beside(dir / vocab);
    if (!merges.empty()) return BpeTokenizer::from_gpt2_files((dir / vocab).string(), merges);
  }
  if (is_file(dir / "tokenizer.bin")) return load_tokenizer((dir / "tokenizer.bin").string());
  throw input_error("tokenizer folder '", dir.string(),
                    "' holds none of tokenizer.json, tokenizer.model, vocab.json+merges.txt, "
                    "encoder.json+vocab.bpe, tokenizer.bin");
}

bool looks_like_json(const std::string& bytes) {
  for (const char c : bytes) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c == '{';
  }
  return false;
}

bool looks_like_sentencepiece(const std::string& bytes) {
  return bytes.size() >= 2 && bytes[0] == '\x0A' && bytes[1] != '\0';
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return load_folder(path);
  if (!fs::exists(path, ec)) throw input_error("tokenizer '", path, "' does not exist");
  const std::string merges = merges_beside(path);
  if (!merges.empty()) return BpeTokenizer::from_gpt2_files(path, merges);

  const std::string bytes = read_file_text(path);
  if (looks_like_json(bytes)) return BpeTokenizer::from_tokenizer_json_file(path);
  if (looks_like_sentencepiece(bytes)) return std::make_unique<SentencePieceTokenizer>(bytes, path);
  return std::make_unique<Llama2cTokenizer>(bytes, path);
}

std::unique_ptr<Tokenizer> load_tokenizer_from_bytes(const std::string& kind, const std::string& bytes,
                                                     const std::string& where) {
  if (kind == "llama2c") return std::make_unique<Llama2cTokenizer>(bytes, where);
  if (kind == "sentencepiece") return std::make_unique<SentencePieceTokenizer>(bytes, where);
  if (kind == "bpe") return BpeTokenizer::from_tokenizer_json(bytes, where);
  throw input_error(where, ": unknown tokenizer kind '", kind, "' (expected llama2c, sentencepiece or bpe)");
}

}  // namespace seedforge
