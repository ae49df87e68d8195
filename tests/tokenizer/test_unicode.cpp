// Unicode classes (\p{L}, \p{N}, \s flavours) and NFC on hand-checked vectors
// (the whole-table comparison with Python's unicodedata is test_unicode_nfc_python).
#include <gtest/gtest.h>

#include "tokenizer/unicode_nfc.h"
#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

namespace seedforge {
namespace {

TEST(UnicodeClasses, LettersNumbersSpaces) {
  using namespace unicode;
  for (const uint32_t cp : std::initializer_list<uint32_t>{'a', 'Z', 0xE9u, 0x3B1u, 0x65E5u, 0x30C6u, 0x1C4u /* Lt */, 0x2B0u /* Lm */}) {
    EXPECT_TRUE(is_letter(cp)) << std::hex << cp;
  }
  for (const uint32_t cp : std::initializer_list<uint32_t>{'1', '-', ' ', 0x301u, 0x2014u, 0x1F600u}) EXPECT_FALSE(is_letter(cp)) << std::hex << cp;
  for (const uint32_t cp : std::initializer_list<uint32_t>{'0', '9', 0x663u /* Nd */, 0xBDu /* No */, 0x2167u /* Nl */, 0xB2u}) {
    EXPECT_TRUE(is_number(cp)) << std::hex << cp;
  }
  EXPECT_FALSE(is_number('a'));
  // U+0085: White_Space but not ECMAScript \s; U+FEFF the other way round.
  EXPECT_TRUE(is_white_space(0x85));
  EXPECT_FALSE(is_ecmascript_space(0x85));
  EXPECT_FALSE(is_white_space(0xFEFF));
  EXPECT_TRUE(is_ecmascript_space(0xFEFF));
  for (const uint32_t cp : std::initializer_list<uint32_t>{' ', '\t', '\n', '\r', 0x0Bu, 0x0Cu, 0xA0u, 0x3000u, 0x2028u}) {
    EXPECT_TRUE(is_white_space(cp) && is_ecmascript_space(cp)) << std::hex << cp;
  }
  EXPECT_FALSE(is_white_space(0x200B));  // ZERO WIDTH SPACE is not White_Space
  EXPECT_EQ(combining_class(0x301), 230);
  EXPECT_EQ(combining_class(0x323), 220);
  EXPECT_EQ(combining_class('a'), 0);
}

TEST(UnicodeNfc, Vectors) {
  EXPECT_EQ(nfc("plain ascii"), "plain ascii");
  EXPECT_EQ(nfc("e\xCC\x81"), "\xC3\xA9");                              // e + U+0301 -> U+00E9
  EXPECT_EQ(nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");  // jamo G A G -> U+AC01
  EXPECT_EQ(nfc("a\xCC\x82\xCC\xA3"), "\xE1\xBA\xAD");                  // a U+0302 U+0323 -> U+1EAD
  EXPECT_EQ(nfc("\xE2\x84\xAB"), "\xC3\x85");                           // ANGSTROM SIGN -> U+00C5
  EXPECT_EQ(nfc("\xE0\xA5\x98"), "\xE0\xA4\x95\xE0\xA4\xBC");           // U+0958 is excluded from composition
  EXPECT_EQ(nfc("\xCD\x84"), "\xCC\x88\xCC\x81");                       // U+0344 -> U+0308 U+0301
  EXPECT_EQ(nfc("\xC3\xA9"), "\xC3\xA9");
  const std::string malformed = "x\xFF\xC3(e\xCC\x81";
  EXPECT_EQ(nfc(malformed), "x\xFF\xC3(\xC3\xA9");
}

TEST(Utf8, DecodeIsLenient) {
  size_t length;
  EXPECT_EQ(utf8::decode("\xC3\xA9", 0, length), 0xE9u);
  EXPECT_EQ(length, 2u);
  EXPECT_EQ(utf8::decode("\xC0\x80", 0, length), utf8::kInvalidByteBase + 0xC0);  // overlong
  EXPECT_EQ(length, 1u);
  EXPECT_EQ(utf8::decode("\xED\xA0\x80", 0, length), utf8::kInvalidByteBase + 0xED);  // surrogate
  EXPECT_EQ(utf8::decode("\xF0\x9F\x98", 0, length), utf8::kInvalidByteBase + 0xF0);  // truncated
}

}  // namespace
}  // namespace seedforge
