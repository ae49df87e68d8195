#include "tokenizer/unicode_nfc.h"

#include <cstdint>
#include <vector>

#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

namespace seedforge {
namespace {

// Hangul syllables compose and decompose by arithmetic (Unicode 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr uint32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  const unicode::Decomposition* d = cp < utf8::kInvalidByteBase ? unicode::find_decomposition(cp) : nullptr;
  if (d == nullptr) {
    out.push_back(cp);
    return;
  }
  decompose(d->first, out);
  if (d->second != 0) decompose(d->second, out);
}

uint8_t ccc(uint32_t cp) { return cp < utf8::kInvalidByteBase ? unicode::combining_class(cp) : 0; }

uint32_t compose_pair(uint32_t first, uint32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount) {
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  if (first >= utf8::kInvalidByteBase || second >= utf8::kInvalidByteBase) return 0;
  return unicode::find_composition(first, second);
}

}  // namespace

std::string nfc(const std::string& text) {
  // Fast path: ASCII is always in NFC.
  bool ascii = true;
  for (const char c : text) ascii = ascii && static_cast<uint8_t>(c) < 0x80;
  if (ascii) return text;

  std::vector<uint32_t> cps;
  cps.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    size_t length;
    decompose(utf8::decode(text, pos, length), cps);
    pos += length;
  }
  // Canonical ordering: stable sort of each run of non-starters by class.
  for (size_t i = 1; i < cps.size(); ++i) {
    const uint8_t c = ccc(cps[i]);
    if (c == 0) continue;
    for (size_t j = i; j > 0 && ccc(cps[j - 1]) > c; --j) std::swap(cps[j - 1], cps[j]);
  }
  // Canonical composition: each character joins the last starter unless a
  // character of the same or higher class (or a starter) sits between them.
  std::vector<uint32_t> out;
  out.reserve(cps.size());
  size_t starter = SIZE_MAX;  // index in `out`
  int last_class = -1;        // class of the last character appended after the starter
  for (const uint32_t cp : cps) {
    const int c = ccc(cp);
    if (starter != SIZE_MAX) {
      const bool blocked = last_class != -1 && (last_class == 0 || last_class >= c);
      if (!blocked) {
        const uint32_t composite = compose_pair(out[starter], cp);
        if (composite != 0) {
          out[starter] = composite;
          continue;
        }
      }
    }
    if (c == 0) {
      starter = out.size();
      last_class = -1;
    } else {
      last_class = c;
    }
    out.push_back(cp);
  }
  std::string result;
  result.reserve(text.size());
  for (const uint32_t cp : out) utf8::append(result, cp);
  return result;
}

}  // namespace seedforge
