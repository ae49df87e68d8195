// nfc() against Python's unicodedata.normalize("NFC") (SEEDFORGE_PYTHON) on
// every code point with a canonical decomposition, Hangul syllables rebuilt
// from jamo, and random runs of starters, composites and combining marks.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "tokenizer/unicode_nfc.h"
#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"
#include "tokenizer/tokenizer_test_util.h"

namespace seedforge {
namespace {

std::string utf8_of(std::initializer_list<uint32_t> cps) {
  std::string out;
  for (const uint32_t cp : cps) utf8::append(out, cp);
  return out;
}

TEST(UnicodeNfcPython, MatchesUnicodedata) {
  std::vector<std::string> inputs;
  for (size_t i = 0; i < unicode::kDecompositionsSize; ++i) {
    const uint32_t cp = unicode::kDecompositions[i].code_point;
    inputs.push_back(utf8_of({cp}));
    inputs.push_back(utf8_of({cp, 0x301, 0x323}));
    inputs.push_back(utf8_of({unicode::kDecompositions[i].first, unicode::kDecompositions[i].second == 0
                                                                     ? 0x41u
                                                                     : unicode::kDecompositions[i].second}));
  }
  for (uint32_t s = 0xAC00; s <= 0xD7A3; s += 37) {
    const uint32_t index = s - 0xAC00;
    inputs.push_back(utf8_of({0x1100 + index / 588, 0x1161 + (index % 588) / 28, 0x11A7 + index % 28}));
  }
  const std::vector<uint32_t> pool = {'a', 'e', 'o', 'A', 'u', 0xE9, 0xC5, 0x300, 0x301, 0x302, 0x308, 0x323, 0x327,
                                      0x345, 0x5B0, 0x93C, 0x915, 0x958, 0xF71, 0xF72, 0xF74, 0x1DCE, 0x1100, 0x1161,
                                      0x11A8, 0xAC00, 0x0B47, 0x0B3E, 0x0B57, 0x09C7, 0x09BE, 0x212B, 0x344, 0x3B1,
                                      0x1F00, 0x399, 0x3099, 0x304B, 0x30AB, 0x1E0A};
  std::mt19937 rng(7);
  for (int i = 0; i < 4000; ++i) {
    std::string s;
    const int length = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < length; ++k) utf8::append(s, pool[rng() % pool.size()]);
    inputs.push_back(s);
  }

  const std::string dir = test::scratch_dir("nfc");
  const std::string input_path = dir + "/input.txt";
  const std::string output_path = dir + "/nfc.txt";
  {
    std::ofstream out(input_path, std::ios::binary);
    for (const std::string& s : inputs) out << s << '\n';
  }
  const std::string script =
      "import sys, unicodedata; lines = open(sys.argv[1], encoding='utf-8').read().split('\\n')[:-1]; "
      "open(sys.argv[2], 'w', encoding='utf-8').write(''.join(unicodedata.normalize('NFC', l) + '\\n' for l in lines))";
  const std::string command =
      std::string("'") + SEEDFORGE_PYTHON + "' -c \"" + script + "\" '" + input_path + "' '" + output_path + "'";
  ASSERT_EQ(std::system(command.c_str()), 0) << "failed: " << command;
  const std::vector<std::string> expected = test::read_lines(output_path, false);
  ASSERT_EQ(expected.size(), inputs.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (nfc(inputs[i]) != expected[i] && ++mismatches <= 10) ADD_FAILURE() << "input " << i << ": " << inputs[i];
  }
  EXPECT_EQ(mismatches, 0u) << "of " << inputs.size();
}

}  // namespace
}  // namespace seedforge
