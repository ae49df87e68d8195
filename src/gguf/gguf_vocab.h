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
//   bpe            "gpt2": the tokenizer.json's vocabulary and added tokens
//                  (special ones and BOS/EOS control, others user-defined, ids
//                  without a token "[PADn]" unused), its merges, and
//                  tokenizer.ggml.pre named from its pre-tokenizer: GPT-2's
//                  byte-level regex "gpt-2", Qwen2's split "qwen2", Llama 3's
//                  "llama-bpe"; any other is a usage_error
// Also the BOS/EOS (and unknown) ids; add_bos_token true for "llama", false for
// "gpt2"; add_eos_token false.
#pragma once

namespace seedforge::infer {
class Model;
}

namespace seedforge::gguf {

class Writer;

void write_vocabulary(const infer::Model& model, Writer& writer);

}  // namespace seedforge::gguf
