// Documents for evaluation and training: blank-line separated paragraphs of a
// text file (or the "text" field of JSONL lines), tokenized with BOS first.
// Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace seedforge {

// Paragraphs of a text file: runs of non-empty lines, joined with '\n'. Only
// an empty line separates paragraphs (a line of spaces stays inside its
// paragraph, as with Python's text.split("\n\n")); whitespace-only
// paragraphs are dropped. A .jsonl file (by
// extension, or when every non-empty line starts with '{') yields the "text"
// field of each line. Throws input_error for a missing or document-less file.
std::vector<std::string> read_documents(const std::string& path);

// [BOS] + encode(doc), cut to the first max_tokens tokens (0 = no cut).
std::vector<std::vector<int32_t>> tokenize_documents(const std::vector<std::string>& documents,
                                                     const Tokenizer& tokenizer, int64_t max_tokens);

}  // namespace seedforge
