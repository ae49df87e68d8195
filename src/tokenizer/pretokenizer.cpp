#include "tokenizer/pretokenizer.h"

#include <cstdint>

#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

namespace seedforge {
namespace {

// Per-character classes, computed once per text.
enum : uint8_t { kLetter = 1, kNumber = 2, kSpace = 4, kNewline = 8 };

struct Chars {
  std::vector<uint32_t> cp;
  std::vector<uint8_t> cls;
  std::vector<size_t> offset;  // byte offset of each character; offset[n] = text size

  size_t size() const { return cp.size(); }
  bool letter(size_t i) const { return cls[i] & kLetter; }
  bool number(size_t i) const { return cls[i] & kNumber; }
  bool space(size_t i) const { return cls[i] & kSpace; }
  bool newline(size_t i) const { return cls[i] & kNewline; }  // \r or \n
  bool other(size_t i) const { return (cls[i] & (kLetter | kNumber | kSpace)) == 0; }
};

Chars classify(std::string_view text, SpaceClass spaces) {
  Chars chars;
  chars.cp.reserve(text.size());
  chars.cls.reserve(text.size());
  chars.offset.reserve(text.size() + 1);
  for (size_t pos = 0; pos < text.size();) {
    size_t length;
    const uint32_t cp = utf8::decode(text, pos, length);
    uint8_t cls = 0;
    if (cp < utf8::kInvalidByteBase) {
      if (unicode::is_letter(cp)) cls |= kLetter;
      if (unicode::is_number(cp)) cls |= kNumber;
      if (spaces == SpaceClass::kUnicode ? unicode::is_white_space(cp) : unicode::is_ecmascript_space(cp)) {
        cls |= kSpace;
      }
      if (cp == '\r' || cp == '\n') cls |= kNewline;
    }
    chars.cp.push_back(cp);
    chars.cls.push_back(cls);
    chars.offset.push_back(pos);
    pos += length;
  }
  chars.offset.push_back(text.size());
  return chars;
}

uint32_t ascii_lower(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp == 0x17F) return 's';  // LATIN SMALL LETTER LONG S case-folds to 's'
  return cp;
}

// 's 't 're 've 'm 'll 'd at i: the match length in characters, or 0.
size_t match_contraction(const Chars& c, size_t i, bool ignore_case) {
  if (c.cp[i] != '\'' || i + 1 >= c.size()) return 0;
  const auto at = [&](size_t k) { return ignore_case ? ascii_lower(c.cp[k]) : c.cp[k]; };
  const uint32_t c1 = at(i + 1);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (i + 2 >= c.size()) return 0;
  const uint32_t c2 = at(i + 2);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

// \s+(?!\S) then \s+ at a space character i: the match end.
size_t match_spaces(const Chars& c, size_t i) {
  size_t j = i;
  while (j < c.size() && c.space(j)) ++j;
  if (j == c.size()) return j;  // whitespace up to the end
  if (j - i >= 2) return j - 1;  // leave the last space to join the next word
  return j;                      // \s+ fallback: a single space before a non-space
}

// One match of the GPT-2 pattern at i: its end.
size_t match_gpt2(const Chars& c, size_t i) {
  const size_t n = c.size();
  if (const size_t k = match_contraction(c, i, false)) return i + k;
  // " ?" then a class run: letters, numbers, or others.
  const size_t start = (c.cp[i] == ' ' && i + 1 < n) ? i + 1 : i;
  for (const auto in_class : {&Chars::letter, &Chars::number, &Chars::other}) {
    size_t j = start;
    if (!(c.*in_class)(j)) {
      if (start == i) continue;
      j = i;  // without the optional space
      if (!(c.*in_class)(j)) continue;
    }
    while (j < n && (c.*in_class)(j)) ++j;
    return j;
  }
  return match_spaces(c, i);
}

// One match of the Llama 3 / Qwen2 pattern at i: its end.
size_t match_llama3(const Chars& c, size_t i, size_t max_digits) {
  const size_t n = c.size();
  if (const size_t k = match_contraction(c, i, true)) return i + k;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  {
    size_t j = i;
    if (!c.letter(j) && !c.newline(j) && !c.number(j) && j + 1 < n && c.letter(j + 1)) ++j;
    if (c.letter(j)) {
      while (j < n && c.letter(j)) ++j;
      return j;
    }
  }
  // \p{N}{1,max_digits}
  if (c.number(i)) {
    size_t j = i;
    while (j < n && j - i < max_digits && c.number(j)) ++j;
    return j;
  }
  // " ?[^\s\p{L}\p{N}]+[\r\n]*"
  {
    size_t j = (c.cp[i] == ' ' && i + 1 < n && c.other(i + 1)) ? i + 1 : i;
    if (c.other(j)) {
      while (j < n && c.other(j)) ++j;
      while (j < n && c.newline(j)) ++j;
      return j;
    }
  }
  // \s*[\r\n]+ : through the last \r or \n of the whitespace run
  size_t run_end = i;
  while (run_end < n && c.space(run_end)) ++run_end;
  for (size_t k = run_end; k > i; --k) {
    if (c.newline(k - 1)) return k;
  }
  return match_spaces(c, i);
}

}  // namespace

const std::string& split_pattern_regex(SplitPattern pattern) {
  static const std::string gpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  static const std::string llama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  static const std::string qwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  switch (pattern) {
    case SplitPattern::kGpt2: return gpt2;
    case SplitPattern::kLlama3: return llama3;
    case SplitPattern::kQwen2: return qwen2;
  }
  return gpt2;
}

bool find_split_pattern(const std::string& regex, SplitPattern& pattern) {
  for (const SplitPattern p : {SplitPattern::kGpt2, SplitPattern::kLlama3, SplitPattern::kQwen2}) {
    if (regex == split_pattern_regex(p)) {
      pattern = p;
      return true;
    }
  }
  return false;
}

void split_pretokens(std::string_view text, SplitPattern pattern, SpaceClass spaces,
                     std::vector<std::string_view>& out) {
  const Chars chars = classify(text, spaces);
  size_t i = 0;
  while (i < chars.size()) {
    size_t end;
    switch (pattern) {
      case SplitPattern::kGpt2: end = match_gpt2(chars, i); break;
      case SplitPattern::kLlama3: end = match_llama3(chars, i, 3); break;
      case SplitPattern::kQwen2: end = match_llama3(chars, i, 1); break;
      default: end = i + 1;
    }
    out.push_back(text.substr(chars.offset[i], chars.offset[end] - chars.offset[i]));
    i = end;
  }
}

}  // namespace seedforge
