// Byte-level BPE: GPT-2 edge cases against ids printed by gpt-3-encoder 1.1.4
// (the whole of wiki.test.raw is in test_gpt2_reference.cpp), the fast merge
// against the reference loop, round trips, tokenizer.json pipelines (GPT-2 /
// Llama 3 / Qwen2 splits) against splits from Python's `regex` module
// (data/split_reference.txt), and rejected tokenizer.json files.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "common/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace seedforge {
namespace {

using json = nlohmann::json;

std::string wiki_path() { return data_path("text/wikitext-2/wiki.test.raw"); }
std::string reference_path(const std::string& name) {
  return std::string(SEEDFORGE_SOURCE_DIR) + "/tests/tokenizer/data/" + name;
}

const BpeTokenizer& gpt2() {
  static const std::unique_ptr<BpeTokenizer> tokenizer = BpeTokenizer::from_gpt2_files(
      data_path("tokenizers/gpt2/encoder.json"), data_path("tokenizers/gpt2/vocab.bpe"));
  return *tokenizer;
}

const std::vector<std::string>& wiki_lines() {
  static const std::vector<std::string> lines = test::read_lines(wiki_path(), false);
  return lines;
}

TEST(BpeTokenizer, Gpt2Basics) {
  const BpeTokenizer& t = gpt2();
  EXPECT_EQ(t.kind(), "bpe");
  EXPECT_EQ(t.vocab_size(), 50257);
  EXPECT_EQ(t.bos_id(), 50256);
  EXPECT_EQ(t.eos_id(), 50256);
  EXPECT_EQ(t.decode({15496, 995, 50256}), "Hello world");  // <|endoftext|> decodes to nothing
  EXPECT_EQ(t.decode_piece(15496, 995), " world");
  EXPECT_THROW(t.decode({50257}), Error);
  EXPECT_TRUE(t.encode("").empty());
}

// Ids printed by gpt-3-encoder 1.1.4 (node) for strings that exercise the
// pre-tokenizer classes, ECMAScript \s (U+0085 is not a space, U+FEFF is),
// multi-byte characters, and the comma-joined merge keys.
TEST(BpeTokenizer, Gpt2EdgeCasesMatchGpt3Encoder) {
  const std::vector<std::pair<std::string, std::vector<int32_t>>> cases = {
      {"Hello world", {15496, 995}},
      {"<|endoftext|>", {27, 91, 437, 1659, 5239, 91, 29}},
      {"I'm here, they'll see: it's 'quoted' 'S",
       {40, 1101, 994, 11, 484, 1183, 766, 25, 340, 338, 705, 421, 5191, 6, 705, 50}},
      {"  leading   and trailing  ", {220, 3756, 220, 220, 290, 25462, 220, 220}},
      {"tab\there\nnew\n\nline", {8658, 197, 1456, 198, 3605, 198, 198, 1370}},
      {"nbsp\xC2\xA0x\xC2\x85" "y\xEF\xBB\xBFz\xE3\x80\x80w", {77, 24145, 1849, 87, 126, 227, 88, 171, 119, 123, 89, 5099, 222, 86}},
      {"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88",
       {33768, 98, 17312, 105, 45739, 252, 5641, 24336, 25084, 43302}},
      {"emoji \xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD done", {368, 31370, 30325, 222, 41840, 235, 8582, 237, 121, 1760}},
      {"x2=3.14159 and 12345678", {87, 17, 28, 18, 13, 1415, 19707, 290, 17031, 2231, 30924}},
      {"\xC3\x9Cn\xC3\xAF" "c\xC3\xB6" "d\xC3\xA9 na\xC3\xAFve caf\xC3\xA9", {127, 250, 77, 26884, 66, 9101, 67, 2634, 41492, 40304}},
      {"\",\",\",,\"", {2430, 553, 11, 553}},
      {"a,b,,c,,,d", {64, 11, 65, 9832, 66, 9832, 11, 67}},
      {"...!!!???", {986, 10185, 28358}},
      {"e\xCC\x81 combining", {68, 136, 223, 19771}},
  };
  for (const auto& [text, expected] : cases) {
    EXPECT_EQ(gpt2().encode(text), expected) << text;
    EXPECT_EQ(gpt2().encode_naive(text), expected) << text;
    EXPECT_EQ(gpt2().decode(expected), text);
  }
}

TEST(BpeTokenizer, FastMergeMatchesReferenceLoopAndRoundTrips) {
  for (size_t i = 0; i < wiki_lines().size(); ++i) {
    const std::string& line = wiki_lines()[i];
    const std::vector<int32_t> ids = gpt2().encode(line);
    if (i % 4 == 0) {
      ASSERT_EQ(ids, gpt2().encode_naive(line)) << "line " << i;
    }
    ASSERT_EQ(gpt2().decode(ids), line) << "line " << i;
  }
  // Malformed UTF-8 still round-trips: byte-level BPE covers every byte.
  const std::string raw = "ok \xFF\xFE\x80 x\xC3(\xE2\x82 end";
  EXPECT_EQ(gpt2().decode(gpt2().encode(raw)), raw);
  EXPECT_EQ(gpt2().encode(raw), gpt2().encode_naive(raw));
}

TEST(BpeTokenizer, StoredBytesKeepGpt3EncoderBehaviour) {
  const auto copy = load_tokenizer_from_bytes("bpe", gpt2().to_bytes(), "stored tokenizer");
  EXPECT_EQ(copy->bos_id(), 50256);
  EXPECT_EQ(copy->eos_id(), 50256);
  EXPECT_EQ(copy->vocab_size(), 50257);
  const std::string tricky = "x\xC2\x85y\xEF\xBB\xBFz \",\",\",,\"";
  EXPECT_EQ(copy->encode(tricky), gpt2().encode(tricky));
  for (size_t i = 0; i < 300; ++i) ASSERT_EQ(copy->encode(wiki_lines()[i]), gpt2().encode(wiki_lines()[i]));
}

// ---- tokenizer.json pipelines

struct SplitReference {
  // pattern -> (input, pieces) edge cases; pattern -> line -> "count hash"
  std::map<std::string, std::vector<std::pair<std::string, std::vector<std::string>>>> edge;
  std::map<std::string, std::map<size_t, std::string>> lines;
};

const SplitReference& split_reference() {
  static const SplitReference reference = [] {
    SplitReference r;
    std::ifstream in(reference_path("split_reference.txt"));
    EXPECT_TRUE(in) << "missing " << reference_path("split_reference.txt");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("E ", 0) == 0) {
        const size_t name_end = line.find(' ', 2);
        const std::string name = line.substr(2, name_end - 2);
        // "<input json> <pieces json>": the input is a JSON string, so parse it by scanning.
        const std::string rest = line.substr(name_end + 1);
        size_t split = 1;
        for (bool escaped = false; split < rest.size(); ++split) {
          if (escaped) {
            escaped = false;
          } else if (rest[split] == '\\') {
            escaped = true;
          } else if (rest[split] == '"') {
            break;
          }
        }
        const std::string input = json::parse(rest.substr(0, split + 1)).get<std::string>();
        const auto pieces = json::parse(rest.substr(split + 2)).get<std::vector<std::string>>();
        r.edge[name].emplace_back(input, pieces);
      } else if (line.rfind("P ", 0) == 0) {
        std::istringstream fields(line.substr(2));
        std::string name, count, hash;
        size_t index;
        fields >> name >> index >> count >> hash;
        r.lines[name][index] = count + " " + hash;
      }
    }
    return r;
  }();
  return reference;
}

std::string split_summary(const std::vector<std::string>& pieces) {
  std::vector<size_t> lengths;
  for (const auto& piece : pieces) lengths.push_back(piece.size());
  char hash[9];
  std::snprintf(hash, sizeof(hash), "%08x", test::fnv1a32(test::join(lengths)));
  return std::to_string(pieces.size()) + " " + hash;
}

json split_step(SplitPattern pattern) {
  return {{"type", "Split"},
          {"pattern", {{"Regex", split_pattern_regex(pattern)}}},
          {"behavior", "Isolated"},
          {"invert", false}};
}

// Llama 3's pipeline: Split with its regex, then ByteLevel without regex.
json split_then_byte_level(SplitPattern pattern) {
  return {{"type", "Sequence"},
          {"pretokenizers", json::array({split_step(pattern), test::byte_level_pre_tokenizer(false)})}};
}

TEST(BpeTokenizer, SplitPatternsMatchPythonRegex) {
  const std::map<std::string, SplitPattern> patterns = {
      {"gpt2", SplitPattern::kGpt2}, {"llama3", SplitPattern::kLlama3}, {"qwen2", SplitPattern::kQwen2}};
  for (const auto& [name, pattern] : patterns) {
    ASSERT_FALSE(split_reference().edge.at(name).empty());
    for (const auto& [input, expected] : split_reference().edge.at(name)) {
      std::vector<std::string_view> views;
      split_pretokens(input, pattern, SpaceClass::kUnicode, views);
      EXPECT_EQ(std::vector<std::string>(views.begin(), views.end()), expected) << name << ": " << input;
    }
  }
  for (const auto& [name, pattern] : patterns) {
    if (name == "gpt2") continue;  // the GPT-2 pattern is covered id for id by gpt-3-encoder
    const auto& reference = split_reference().lines.at(name);
    ASSERT_EQ(reference.size(), wiki_lines().size()) << name;
    for (size_t i = 0; i < wiki_lines().size(); ++i) {
      std::vector<std::string_view> views;
      split_pretokens(wiki_lines()[i], pattern, SpaceClass::kUnicode, views);
      ASSERT_EQ(split_summary(std::vector<std::string>(views.begin(), views.end())), reference.at(i))
          << name << " line " << i << ": " << wiki_lines()[i];
    }
  }
}

TEST(BpeTokenizer, TokenizerJsonGpt2WithSpecialToken) {
  const json added = json::array({{{"id", 50256}, {"content", "<|endoftext|>"}, {"single_word", false}, {"lstrip", false},
                                   {"rstrip", false}, {"normalized", true}, {"special", true}}});
  const auto t = BpeTokenizer::from_tokenizer_json(
      test::gpt2_tokenizer_json(test::byte_level_pre_tokenizer(true), nullptr, added), "gpt2 tokenizer.json");
  EXPECT_EQ(t->encode("Hello world<|endoftext|>"), (std::vector<int32_t>{15496, 995, 50256}));
  EXPECT_EQ(t->decode({15496, 995, 50256}), "Hello world");
  EXPECT_EQ(t->bos_id(), 50256);
  // Unicode \s here (U+0085 is a space), unlike gpt-3-encoder's ECMAScript \s.
  for (const auto& [input, expected] : split_reference().edge.at("gpt2")) {
    EXPECT_EQ(t->pretokenize(input), expected) << input;
  }
  // On plain text the HF and gpt-3-encoder paths agree.
  for (size_t i = 0; i < wiki_lines().size(); i += 7) ASSERT_EQ(t->encode(wiki_lines()[i]), gpt2().encode(wiki_lines()[i]));
  const auto copy = load_tokenizer_from_bytes("bpe", t->to_bytes(), "stored");
  EXPECT_EQ(copy->encode("a<|endoftext|>b"), (std::vector<int32_t>{64, 50256, 65}));
}

TEST(BpeTokenizer, TokenizerJsonLlama3AndQwen2Splits) {
  for (const SplitPattern pattern : {SplitPattern::kLlama3, SplitPattern::kQwen2}) {
    const std::string name = pattern == SplitPattern::kLlama3 ? "llama3" : "qwen2";
    const auto t = BpeTokenizer::from_tokenizer_json(
        test::gpt2_tokenizer_json(split_then_byte_level(pattern), nullptr, json::array()), name + " tokenizer.json");
    for (const auto& [input, expected] : split_reference().edge.at(name)) {
      EXPECT_EQ(t->pretokenize(input), expected) << name << ": " << input;
      EXPECT_EQ(t->decode(t->encode(input)), input);
    }
    for (size_t i = 0; i < wiki_lines().size(); i += 5) {
      ASSERT_EQ(split_summary(t->pretokenize(wiki_lines()[i])), split_reference().lines.at(name).at(i)) << i;
      const std::vector<int32_t> ids = t->encode(wiki_lines()[i]);
      ASSERT_EQ(t->decode(ids), wiki_lines()[i]);
      if (i % 25 == 0) {
        ASSERT_EQ(ids, t->encode_naive(wiki_lines()[i]));
      }
    }
  }
}

TEST(BpeTokenizer, NfcNormalizerAndAddedTokenOptions) {
  const json added = json::array({{{"id", 50257}, {"content", "<mask>"}, {"single_word", false}, {"lstrip", true},
                                   {"rstrip", false}, {"normalized", false}, {"special", true}},
                                  {{"id", 50258}, {"content", "cat"}, {"single_word", true}, {"lstrip", false},
                                   {"rstrip", false}, {"normalized", false}, {"special", false}}});
  const auto t = BpeTokenizer::from_tokenizer_json(
      test::gpt2_tokenizer_json(split_then_byte_level(SplitPattern::kQwen2), {{"type", "NFC"}}, added), "qwen-like");
  EXPECT_EQ(t->vocab_size(), 50259);
  // NFC composes e + U+0301 into U+00E9 before splitting.
  EXPECT_EQ(t->pretokenize("cafe\xCC\x81!"), (std::vector<std::string>{"caf\xC3\xA9", "!"}));
  // lstrip: the space before <mask> belongs to it; single_word: "cat" inside "concat" is no match.
  EXPECT_EQ(t->pretokenize("Hello <mask>!"), (std::vector<std::string>{"Hello", "<mask>", "!"}));
  EXPECT_EQ(t->encode("Hello <mask>!"), (std::vector<int32_t>{15496, 50257, 0}));
  EXPECT_EQ(t->encode("a cat"), (std::vector<int32_t>{64, 220, 50258}));
  EXPECT_EQ(t->pretokenize("concat"), (std::vector<std::string>{"concat"}));
  EXPECT_EQ(t->decode({15496, 50257, 50258}), "Hellocat");  // special <mask> decodes to nothing
}

// A tiny byte-level tokenizer.json: the 256 byte tokens (GPT-2's
// bytes_to_unicode, re-derived here; token id = byte value) and the merge "a b".
std::string tiny_tokenizer_json() {
  json vocab = json::object();
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const uint32_t cp = printable ? b : next++;
    std::string utf8;
    if (cp < 0x80) {
      utf8 += static_cast<char>(cp);
    } else {
      utf8 += static_cast<char>(0xC0 | (cp >> 6));
      utf8 += static_cast<char>(0x80 | (cp & 0x3F));
    }
    vocab[utf8] = b;
  }
  vocab["ab"] = 256;
  return json({{"added_tokens", json::array()},
               {"normalizer", nullptr},
               {"pre_tokenizer", test::byte_level_pre_tokenizer(true)},
               {"decoder", {{"type", "ByteLevel"}}},
               {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({json::array({"a", "b"})})}}}})
      .dump();
}

TEST(BpeTokenizer, TokenizerConfigNamesBosAndEos) {
  json root = json::parse(tiny_tokenizer_json());
  root["added_tokens"] = json::array({{{"id", 257}, {"content", "<|begin|>"}, {"special", true}},
                                      {{"id", 258}, {"content", "<|end|>"}, {"special", true}}});
  const std::string text = root.dump();
  const auto t = BpeTokenizer::from_tokenizer_json(text, "t.json",
                                                   R"({"bos_token": "<|begin|>", "eos_token": {"content": "<|end|>"}})");
  EXPECT_EQ(t->bos_id(), 257);
  EXPECT_EQ(t->eos_id(), 258);
  EXPECT_EQ(t->encode("<|begin|>ab<|end|>"), (std::vector<int32_t>{257, 256, 258}));
  const auto copy = load_tokenizer_from_bytes("bpe", t->to_bytes(), "stored");
  EXPECT_EQ(copy->bos_id(), 257);
  EXPECT_EQ(copy->eos_id(), 258);
  EXPECT_THROW(BpeTokenizer::from_tokenizer_json(text, "t.json", R"({"bos_token": "<nope>"})"), Error);
}

TEST(BpeTokenizer, TinyTokenizerJson) {
  const auto t = BpeTokenizer::from_tokenizer_json(tiny_tokenizer_json(), "tiny.json");
  EXPECT_EQ(t->vocab_size(), 257);
  EXPECT_EQ(t->bos_id(), -1);  // no BOS / EOS names known
  EXPECT_EQ(t->encode("ab abab\n"), (std::vector<int32_t>{256, ' ', 256, 256, '\n'}));
  EXPECT_EQ(t->decode({256, ' ', 256, 256, '\n'}), "ab abab\n");
}

std::string load_error(const std::string& text) {
  try {
    BpeTokenizer::from_tokenizer_json(text, "bad/tokenizer.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("bad/tokenizer.json"), std::string::npos) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(BpeTokenizer, RejectsUnsupportedTokenizerJson) {
  const std::string good = tiny_tokenizer_json();
  auto with = [&](const std::string& key, const json& value) {
    json root = json::parse(good);
    root[key] = value;
    return root.dump();
  };
  EXPECT_NE(load_error(with("normalizer", {{"type", "Lowercase"}})).find("normalizer 'Lowercase'"), std::string::npos);
  EXPECT_NE(load_error(with("pre_tokenizer", {{"type", "Whitespace"}})).find("pre_tokenizer 'Whitespace'"),
            std::string::npos);
  EXPECT_NE(load_error(with("decoder", {{"type", "Metaspace"}})).find("decoder 'Metaspace'"), std::string::npos);
  // Found by fuzz_tokenizer_json: a Sequence without its list was read out of bounds.
  EXPECT_NE(load_error(with("normalizer", {{"type", "Sequence"}})).find("\"normalizers\" array"), std::string::npos);
  EXPECT_NE(load_error(with("pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", 3}})).find("\"pretokenizers\" array"),
            std::string::npos);
  json unknown_split = split_step(SplitPattern::kGpt2);
  unknown_split["pattern"]["Regex"] = "\\w+";
  EXPECT_NE(load_error(with("pre_tokenizer", unknown_split)).find("\\w+"), std::string::npos);
  EXPECT_NE(load_error(with("pre_tokenizer", split_step(SplitPattern::kGpt2))).find("no ByteLevel"), std::string::npos);
  json word_piece = json::parse(good);
  word_piece["model"]["type"] = "WordPiece";
  EXPECT_NE(load_error(word_piece.dump()).find("model type 'WordPiece'"), std::string::npos);
  json bad_merge = json::parse(good);
  bad_merge["model"]["merges"].push_back("zzzq qqqz");
  json dropout = json::parse(good);
  dropout["model"]["dropout"] = 0.1;
  EXPECT_NE(load_error(dropout.dump()).find("dropout"), std::string::npos);
  json fallback = json::parse(good);
  fallback["model"]["byte_fallback"] = true;
  EXPECT_NE(load_error(fallback.dump()).find("byte_fallback"), std::string::npos);
  json missing_byte = json::parse(good);
  missing_byte["model"]["vocab"].erase("a");
  missing_byte["model"]["merges"] = json::array();
  EXPECT_NE(load_error(missing_byte.dump()).find("byte 97"), std::string::npos);
  EXPECT_NE(load_error(bad_merge.dump()).find("zzzq"), std::string::npos);
  EXPECT_NE(load_error("{\"model\": 3").find("not valid JSON"), std::string::npos);
  EXPECT_NE(load_error("{\"version\": \"1.0\"}").find("no \"model\""), std::string::npos);
}

}  // namespace
}  // namespace seedforge
