// SentencePiece (Llama 2 tokenizer.model): ids against the spm_encode tool
// on real text, round trips, model metadata and corrupt input.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace seedforge {
namespace {

std::string model_path() { return data_path("tokenizers/llama2/tokenizer.model"); }

std::vector<std::string> first_wiki_lines(size_t count) {
  std::vector<std::string> lines = test::read_lines(data_path("text/wikitext-2/wiki.test.raw"), true);
  if (lines.size() > count) lines.resize(count);
  return lines;
}

TEST(SentencePieceTokenizer, ReadsLlama2Model) {
  const auto tokenizer = load_tokenizer(model_path());
  EXPECT_EQ(tokenizer->kind(), "sentencepiece");
  EXPECT_EQ(tokenizer->vocab_size(), 32000);
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
  EXPECT_EQ(tokenizer->encode("Hello world"), (std::vector<int32_t>{15043, 3186}));
  EXPECT_EQ(tokenizer->decode({1, 15043, 3186, 2}), "Hello world");
  EXPECT_EQ(tokenizer->decode_piece(1, 15043), "Hello");   // leading space dropped after BOS
  EXPECT_EQ(tokenizer->decode_piece(15043, 3186), " world");
  EXPECT_EQ(tokenizer->decode_piece(15043, 2), "");        // EOS is a control piece
  EXPECT_EQ(tokenizer->decode_piece(15043, 3 + 0x0A), "\n");  // <0x0A>
  EXPECT_THROW(tokenizer->decode({32000}), Error);
}

// The first 200 non-empty lines of wiki.test.raw, one spm_encode run over a
// temporary file of the same lines.
TEST(SentencePieceTokenizer, MatchesSpmEncodeOnWikitext) {
  const std::string spm_encode = SEEDFORGE_SPM_ENCODE;
  ASSERT_FALSE(spm_encode.empty())
      << "spm_encode was not found when configuring (Debian package 'sentencepiece'); it is the reference for this test";
  const std::vector<std::string> lines = first_wiki_lines(200);
  ASSERT_EQ(lines.size(), 200u);

  const std::string dir = test::scratch_dir("sentencepiece");
  const std::string input = dir + "/wiki200.txt";
  const std::string output = dir + "/wiki200.ids";
  {
    std::ofstream out(input, std::ios::binary);
    for (const auto& line : lines) out << line << '\n';
  }
  const std::string command =
      "'" + spm_encode + "' --model='" + model_path() + "' --output_format=id < '" + input + "' > '" + output + "'";
  ASSERT_EQ(std::system(command.c_str()), 0) << "failed: " << command;

  const std::vector<std::string> reference = test::read_lines(output, false);
  ASSERT_EQ(reference.size(), lines.size()) << "spm_encode wrote a different number of lines";
  const auto tokenizer = load_tokenizer(model_path());
  size_t n_tokens = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::vector<int32_t> expected;
    std::istringstream fields(reference[i]);
    for (int32_t id; fields >> id;) expected.push_back(id);
    const std::vector<int32_t> got = tokenizer->encode(lines[i]);
    ASSERT_EQ(got, expected) << "line " << i << ": " << lines[i];
    n_tokens += got.size();
    // Llama 2's model keeps whitespace (no normalization), so decoding restores the line.
    ASSERT_EQ(tokenizer->decode(got), lines[i]) << "line " << i;
  }
  EXPECT_GT(n_tokens, 1000u);
}

TEST(SentencePieceTokenizer, RoundTripsThroughBytes) {
  const auto tokenizer = load_tokenizer(model_path());
  const auto copy = load_tokenizer_from_bytes("sentencepiece", tokenizer->to_bytes(), "stored tokenizer");
  for (const auto& line : first_wiki_lines(20)) EXPECT_EQ(copy->encode(line), tokenizer->encode(line));
}

TEST(SentencePieceTokenizer, RejectsGarbage) {
  try {
    load_tokenizer_from_bytes("sentencepiece", std::string("\x0A\x05garbage", 9), "broken.model");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("broken.model"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace seedforge
