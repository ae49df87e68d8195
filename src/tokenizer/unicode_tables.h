// Unicode data tables (generated into unicode_tables.cpp by
// scripts/gen_unicode_tables.py from Python's unicodedata) and the lookups
// over them: letter / number classes for the pre-tokenizer regexes, canonical
// combining classes, decompositions and compositions for NFC.
#pragma once

#include <cstddef>
#include <cstdint>

namespace seedforge {
namespace unicode {

struct CodePointRange {
  uint32_t first;
  uint32_t last;  // inclusive
};
struct CombiningClassRange {
  uint32_t first;
  uint32_t last;  // inclusive
  uint8_t ccc;
};
struct Decomposition {
  uint32_t code_point;
  uint32_t first;
  uint32_t second;  // 0 for a singleton decomposition
};
struct Composition {
  uint32_t first;
  uint32_t second;
  uint32_t composite;
};

extern const char* const kUnicodeVersion;
extern const CodePointRange kLetterRanges[];
extern const size_t kLetterRangesSize;
extern const CodePointRange kNumberRanges[];
extern const size_t kNumberRangesSize;
extern const CombiningClassRange kCombiningClassRanges[];
extern const size_t kCombiningClassRangesSize;
extern const Decomposition kDecompositions[];
extern const size_t kDecompositionsSize;
extern const Composition kCompositions[];
extern const size_t kCompositionsSize;

// General category L* (regex \p{L}).
bool is_letter(uint32_t cp);
// General category N* (regex \p{N}).
bool is_number(uint32_t cp);
// Unicode White_Space: what \s means in Oniguruma / Rust regex (HF tokenizers, tiktoken).
bool is_white_space(uint32_t cp);
// ECMAScript \s (WhiteSpace + LineTerminator): what gpt-3-encoder's JS regex uses;
// unlike White_Space it includes U+FEFF and excludes U+0085.
bool is_ecmascript_space(uint32_t cp);

uint8_t combining_class(uint32_t cp);
// One-step canonical decomposition of a non-Hangul code point, or nullptr.
const Decomposition* find_decomposition(uint32_t cp);
// The primary composite of (first, second), or 0.
uint32_t find_composition(uint32_t first, uint32_t second);

}  // namespace unicode
}  // namespace seedforge
