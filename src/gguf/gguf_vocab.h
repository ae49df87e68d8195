// A seedforge tokenizer as llama.cpp's vocabulary metadata (tokenizer.ggml.*).
// Torch-free.
//
//   llama2c        tokenizer.ggml.model "llama" (llama.cpp's SentencePiece-style
//                  tokenizer): pieces with ' ' as U+2581, <0xXX> pieces as byte
//                  tokens (type 6), ids 0 / BOS / EOS as <unk> / <s> / </s>
//                  (llama2.c stores "\n<s>\n"), the file's scores
//   sentencepiece  "llama": the ModelProto's pieces, scores and types as they
//                  are (SentencePiece's piece types are llama.cpp's token
//                  types: 1 normal, 2 unknown, 3 control, 4 user-defined,
//                  5 unused, 6 byte), add_space_prefix from its normalizer spec
//   bpe            refused for now (usage_error): GPT-2 style vocabularies need
//                  their merges and llama.cpp's pre-tokenizer name
// Also the BOS/EOS/unknown ids and add_bos_token true, add_eos_token false.
#pragma once

namespace seedforge::infer {
class Model;
}

namespace seedforge::gguf {

class Writer;

void write_vocabulary(const infer::Model& model, Writer& writer);

}  // namespace seedforge::gguf
