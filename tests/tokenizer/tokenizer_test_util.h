// Helpers shared by the tokenizer tests: reading the shared text files.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/data_paths.h"
#include "common/file_util.h"

namespace seedforge {
namespace test {

// Blank-line separated paragraphs (the evaluation protocol's documents),
// without their surrounding newlines.
inline std::vector<std::string> read_paragraphs(const std::string& path) {
  const std::string text = read_file_text(path);
  std::vector<std::string> paragraphs;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find("\n\n", start);
    if (end == std::string::npos) end = text.size();
    std::string paragraph = text.substr(start, end - start);
    while (!paragraph.empty() && paragraph.front() == '\n') paragraph.erase(paragraph.begin());
    while (!paragraph.empty() && paragraph.back() == '\n') paragraph.pop_back();
    if (!paragraph.empty()) paragraphs.push_back(paragraph);
    start = end + 2;
  }
  return paragraphs;
}

// Lines without their '\n'; empty lines are kept unless `skip_empty`.
inline std::vector<std::string> read_lines(const std::string& path, bool skip_empty) {
  const std::string text = read_file_text(path);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!(skip_empty && line.empty())) lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

// A unique scratch folder under the build tree for files a test writes.
inline std::string scratch_dir(const std::string& name) {
  const std::string dir = std::string(SEEDFORGE_BINARY_DIR) + "/test_scratch/" + name;
  std::filesystem::create_directories(dir);
  return dir;
}

// FNV-1a 32, as in the reference scripts (gpt2_reference.js, split_reference.py).
inline uint32_t fnv1a32(const std::string& text) {
  uint32_t h = 0x811C9DC5u;
  for (const char c : text) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return h;
}

template <typename T>
std::string join(const std::vector<T>& values) {
  std::ostringstream out;
  for (size_t i = 0; i < values.size(); ++i) out << (i ? " " : "") << values[i];
  return out.str();
}

// A Hugging Face style tokenizer.json built from the GPT-2 files in the data
// folder, with the given pipeline parts (for tests of the tokenizer.json path).
inline std::string gpt2_tokenizer_json(const nlohmann::json& pre_tokenizer, const nlohmann::json& normalizer,
                                       const nlohmann::json& added_tokens) {
  const nlohmann::json vocab = nlohmann::json::parse(read_file_text(data_path("tokenizers/gpt2/encoder.json")));
  nlohmann::json merges = nlohmann::json::array();
  const std::vector<std::string> lines = read_lines(data_path("tokenizers/gpt2/vocab.bpe"), true);
  for (size_t i = 1; i < lines.size(); ++i) merges.push_back(lines[i]);  // line 0 is "#version: 0.2"
  nlohmann::json root = {
      {"version", "1.0"},
      {"added_tokens", added_tokens},
      {"normalizer", normalizer},
      {"pre_tokenizer", pre_tokenizer},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
                 {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab},
                 {"merges", merges}}}};
  return root.dump();
}

inline nlohmann::json byte_level_pre_tokenizer(bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", use_regex}};
}

}  // namespace test
}  // namespace seedforge
