// Lookups over the generated tables in unicode_tables.cpp.
#include <algorithm>

#include "tokenizer/unicode_tables.h"

namespace seedforge {
namespace unicode {
namespace {

bool in_ranges(const CodePointRange* ranges, size_t n, uint32_t cp) {
  // First range whose end is >= cp; cp is inside when it also starts at or before cp.
  const CodePointRange* end = ranges + n;
  const CodePointRange* it =
      std::lower_bound(ranges, end, cp, [](const CodePointRange& r, uint32_t value) { return r.last < value; });
  return it != end && it->first <= cp;
}

}  // namespace

bool is_letter(uint32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return in_ranges(kLetterRanges, kLetterRangesSize, cp);
}

bool is_number(uint32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return in_ranges(kNumberRanges, kNumberRangesSize, cp);
}

bool is_white_space(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_ecmascript_space(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  return cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

uint8_t combining_class(uint32_t cp) {
  if (cp < 0x300) return 0;
  const CombiningClassRange* end = kCombiningClassRanges + kCombiningClassRangesSize;
  const CombiningClassRange* it = std::lower_bound(
      kCombiningClassRanges, end, cp, [](const CombiningClassRange& r, uint32_t value) { return r.last < value; });
  return (it != end && it->first <= cp) ? it->ccc : 0;
}

const Decomposition* find_decomposition(uint32_t cp) {
  if (cp < 0xC0) return nullptr;
  const Decomposition* end = kDecompositions + kDecompositionsSize;
  const Decomposition* it = std::lower_bound(
      kDecompositions, end, cp, [](const Decomposition& d, uint32_t value) { return d.code_point < value; });
  return (it != end && it->code_point == cp) ? it : nullptr;
}

uint32_t find_composition(uint32_t first, uint32_t second) {
  const Composition* end = kCompositions + kCompositionsSize;
  const Composition* it = std::lower_bound(kCompositions, end, std::make_pair(first, second),
                                           [](const Composition& c, const std::pair<uint32_t, uint32_t>& key) {
                                             return c.first != key.first ? c.first < key.first
                                                                         : c.second < key.second;
                                           });
  return (it != end && it->first == first && it->second == second) ? it->composite : 0;
}

}  // namespace unicode
}  // namespace seedforge
