// llama2.c tokenizer.bin: reference vectors from the data README, the fast
// merge against the run.c port, the README's scored-token counts, round trips
// and corrupt files.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "common/error.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace seedforge {
namespace {

std::string tok512_path() { return data_path("models/stories260K/tok512.bin"); }

std::unique_ptr<Tokenizer> load_tok512() { return load_tokenizer(tok512_path()); }

void append_i32(std::string& out, int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void append_f32(std::string& out, float v) { out.append(reinterpret_cast<const char*>(&v), 4); }

// A minimal valid tokenizer.bin image: <unk>, BOS, EOS, 256 byte pieces, " ", then `extra`.
std::string make_image(const std::vector<std::pair<std::string, float>>& extra, int32_t max_len = 8) {
  std::string out;
  append_i32(out, max_len);
  auto add = [&](const std::string& piece, float score) {
    append_f32(out, score);
    append_i32(out, static_cast<int32_t>(piece.size()));
    out += piece;
  };
  add("<unk>", 0);
  add("\n<s>\n", 0);
  add("\n</s>\n", 0);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    add(name, 0);
  }
  add(" ", -1);
  for (const auto& [piece, score] : extra) add(piece, score);
  return out;
}

std::string error_message(const std::string& image, const std::string& where) {
  try {
    Llama2cTokenizer tokenizer(image, where);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    return e.what();
  }
  ADD_FAILURE() << "no error for " << where;
  return "";
}

TEST(Llama2cTokenizer, ReadsTok512) {
  const auto tokenizer = load_tok512();
  EXPECT_EQ(tokenizer->kind(), "llama2c");
  EXPECT_EQ(tokenizer->vocab_size(), 512);
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
  const auto& llama = dynamic_cast<const Llama2cTokenizer&>(*tokenizer);
  EXPECT_EQ(llama.max_token_length(), 7);
  EXPECT_EQ(llama.piece(403), " Once");
  EXPECT_EQ(llama.piece(3), "<0x00>");
}

TEST(Llama2cTokenizer, ReferenceVectors) {
  const auto tokenizer = load_tok512();
  EXPECT_EQ(tokenizer->encode("Once upon a time"), (std::vector<int32_t>{403, 407, 261, 378}));
  EXPECT_EQ(tokenizer->encode("x"), (std::vector<int32_t>{410, 444}));
  EXPECT_EQ(tokenizer->encode("Lily's mom said, \"Let's go!\""),
            (std::vector<int32_t>{317, 439, 419, 357, 336, 432, 313, 438, 316, 439, 419, 298, 414, 443, 436}));
  EXPECT_TRUE(tokenizer->encode("").empty());
}

TEST(Llama2cTokenizer, DecodePieces) {
  const auto tokenizer = load_tok512();
  EXPECT_EQ(tokenizer->decode_piece(1, 403), "Once");    // space dropped after BOS
  EXPECT_EQ(tokenizer->decode_piece(378, 403), " Once");
  EXPECT_EQ(tokenizer->decode_piece(0, 3 + '\n'), "\n");  // <0x0A>
  EXPECT_EQ(tokenizer->decode_piece(0, 3 + 0xE2), std::string(1, '\xE2'));
  EXPECT_EQ(tokenizer->decode({1, 403, 407, 261, 378, 2}), "Once upon a time");
  EXPECT_EQ(tokenizer->decode({403, 407, 261, 378}), "Once upon a time");
  EXPECT_THROW(tokenizer->decode({512}), Error);
  EXPECT_THROW(tokenizer->decode_piece(1, -1), Error);
}

// README protocol: tokens = [BOS] + encode(paragraph) cut to 512, every
// position after BOS scored -> 74,203 positions on valid.txt, 7,809 on its first 100.
TEST(Llama2cTokenizer, ScoredTokenCountsMatchReadme) {
  const auto tokenizer = load_tok512();
  const auto paragraphs = test::read_paragraphs(data_path("text/tinystories/valid.txt"));
  ASSERT_EQ(paragraphs.size(), 800u);
  int64_t scored = 0;
  int64_t scored_first_100 = 0;
  for (size_t i = 0; i < paragraphs.size(); ++i) {
    const size_t n_tokens = std::min<size_t>(1 + tokenizer->encode(paragraphs[i]).size(), 512);
    scored += static_cast<int64_t>(n_tokens) - 1;
    if (i < 100) scored_first_100 += static_cast<int64_t>(n_tokens) - 1;
  }
  EXPECT_EQ(scored, 74203);
  EXPECT_EQ(scored_first_100, 7809);
}

TEST(Llama2cTokenizer, FastMergeMatchesRunCPortAndRoundTrips) {
  const auto tokenizer = load_tok512();
  const auto& llama = dynamic_cast<const Llama2cTokenizer&>(*tokenizer);
  const auto paragraphs = test::read_paragraphs(data_path("text/tinystories/valid.txt"));
  // The naive loop is quadratic: 100 paragraphs keep the test in well under a second.
  for (size_t i = 0; i < 100; ++i) {
    const std::vector<int32_t> fast = llama.encode(paragraphs[i]);
    ASSERT_EQ(fast, llama.encode_naive(paragraphs[i])) << "paragraph " << i;
  }
  for (size_t i = 0; i < paragraphs.size(); ++i) {
    ASSERT_EQ(llama.decode(llama.encode(paragraphs[i])), paragraphs[i]) << "paragraph " << i;
  }
}

TEST(Llama2cTokenizer, RandomBytesMatchRunCPortAndRoundTrip) {
  const auto tokenizer = load_tok512();
  const auto& llama = dynamic_cast<const Llama2cTokenizer&>(*tokenizer);
  std::mt19937 rng(1234);
  // Mostly letters and spaces (to exercise merges), some raw and multi-byte UTF-8.
  const std::vector<std::string> alphabet = {"a", "e", "t", "h", " ", "o", "n", "s", "\xC3\xA9", "\xE2\x80\x8A",
                                             "\xF0\x9F\x98\x80", "\x80", "\xFF", "\n", "\"", "'", "T", "L"};
  for (int trial = 0; trial < 300; ++trial) {
    std::string text;
    const int length = static_cast<int>(rng() % 60);
    for (int k = 0; k < length; ++k) text += alphabet[rng() % alphabet.size()];
    ASSERT_EQ(llama.encode(text), llama.encode_naive(text)) << "trial " << trial;
    ASSERT_EQ(llama.decode(llama.encode(text)), text) << "trial " << trial;
  }
}

TEST(Llama2cTokenizer, TieBreaksOnTheLeftmostPair) {
  // "ab" and "bc" share a score: run.c merges the first pair it meets, so "abc" -> [" ", "ab", "c"].
  const std::string image = make_image({{"a", -1}, {"b", -1}, {"c", -1}, {"ab", -5}, {"bc", -5}});
  Llama2cTokenizer tokenizer(image, "tie.bin");
  const int32_t base = 3 + 256;  // " " is base; a, b, c, ab, bc follow
  EXPECT_EQ(tokenizer.encode("abc"), (std::vector<int32_t>{base, base + 4, base + 3}));
  EXPECT_EQ(tokenizer.encode("abc"), tokenizer.encode_naive("abc"));
  EXPECT_EQ(tokenizer.encode("z"), (std::vector<int32_t>{base, 'z' + 3}));  // byte fallback
}

TEST(Llama2cTokenizer, RoundTripsThroughBytes) {
  const auto tokenizer = load_tok512();
  const auto copy = load_tokenizer_from_bytes(tokenizer->kind(), tokenizer->to_bytes(), "stored tokenizer");
  EXPECT_EQ(copy->encode("Once upon a time"), tokenizer->encode("Once upon a time"));
  EXPECT_EQ(copy->vocab_size(), 512);
}

TEST(Llama2cTokenizer, RejectsCorruptFiles) {
  const std::string good = make_image({{"ab", -2}});
  EXPECT_NO_THROW(Llama2cTokenizer(good, "good.bin"));

  EXPECT_NE(error_message("\x07\x00", "short.bin").find("short.bin"), std::string::npos);

  // Cut inside the last record's 8-byte header, then inside its piece.
  const size_t last_record = good.size() - 2 - 8;
  const std::string cut_header = error_message(good.substr(0, last_record + 5), "cut.bin");
  EXPECT_NE(cut_header.find("cut.bin"), std::string::npos) << cut_header;
  EXPECT_NE(cut_header.find("token 260"), std::string::npos) << cut_header;
  EXPECT_NE(cut_header.find("truncated"), std::string::npos) << cut_header;
  const std::string cut_piece = error_message(good.substr(0, good.size() - 1), "cut.bin");
  EXPECT_NE(cut_piece.find("token 260"), std::string::npos) << cut_piece;

  std::string negative = good;
  const int32_t minus_one = -1;
  std::memcpy(&negative[last_record + 4], &minus_one, 4);
  const std::string negative_message = error_message(negative, "neg.bin");
  EXPECT_NE(negative_message.find("token 260"), std::string::npos) << negative_message;
  EXPECT_NE(negative_message.find("negative length -1"), std::string::npos) << negative_message;

  const std::string too_long = make_image({{"abcdefghi", -2}});  // 9 bytes > max_token_length 8
  const std::string too_long_message = error_message(too_long, "long.bin");
  EXPECT_NE(too_long_message.find("token 260"), std::string::npos) << too_long_message;
  EXPECT_NE(too_long_message.find("exceeds max_token_length 8"), std::string::npos) << too_long_message;

  std::string bad_max = good;
  const int32_t zero = 0;
  std::memcpy(&bad_max[0], &zero, 4);
  EXPECT_NE(error_message(bad_max, "max.bin").find("max_token_length 0"), std::string::npos);

  // Too few tokens for byte fallback.
  std::string small;
  append_i32(small, 4);
  append_f32(small, 0);
  append_i32(small, 1);
  small += " ";
  EXPECT_NE(error_message(small, "small.bin").find("at least 259"), std::string::npos);

  // The path reaches the message when loading from a file.
  const std::string path = test::scratch_dir("llama2c") + "/truncated_tokenizer.bin";
  write_file_atomic(path, good.data(), good.size() - 1);
  try {
    load_tokenizer(path);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace seedforge
