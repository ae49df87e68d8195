// The regex pre-tokenizers of byte-level BPE tokenizers, implemented by hand
// (std::regex has no \p{L} / \p{N}). Each splits text into pieces that the
// BPE merges never cross; the pieces cover the text exactly, in order.
//
// kGpt2   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// kLlama3 (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// kQwen2  as kLlama3 with \p{N} instead of \p{N}{1,3}
//
// Alternatives are tried in order at each position (leftmost-first, as in
// JavaScript, Oniguruma and fancy-regex); every position starts some match,
// so there are no unmatched gaps. Malformed UTF-8 bytes count as one
// character that is neither letter, number nor space.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace seedforge {

enum class SplitPattern { kGpt2, kLlama3, kQwen2 };

// What \s means: Unicode White_Space (HF tokenizers, tiktoken) or ECMAScript's
// \s (gpt-3-encoder's JavaScript regex).
enum class SpaceClass { kUnicode, kEcmaScript };

// The regex source text of each pattern, as written in tokenizer.json files.
const std::string& split_pattern_regex(SplitPattern pattern);
// The pattern whose regex source is `regex`; false when it is none of them.
bool find_split_pattern(const std::string& regex, SplitPattern& pattern);

// Appends the pieces of `text` to `out` (views into `text`).
void split_pretokens(std::string_view text, SplitPattern pattern, SpaceClass spaces,
                     std::vector<std::string_view>& out);

}  // namespace seedforge
