#include "eval/documents.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"

namespace seedforge {

namespace {

// Only an empty line separates paragraphs (a line of spaces belongs to its
// paragraph), as Python's text.split("\n\n") and awk's paragraph mode see it.
bool blank(const std::string& line) { return line.empty(); }
bool whitespace_only(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

std::vector<std::string> read_jsonl(const std::string& path, const std::vector<std::string>& lines) {
  std::vector<std::string> docs;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (whitespace_only(lines[i])) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(lines[i]);
    } catch (const std::exception& e) {
      throw input_error("'", path, "' line ", i + 1, ": invalid JSON: ", e.what());
    }
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
      throw input_error("'", path, "' line ", i + 1, ": expected an object with a string field \"text\"");
    }
    std::string text = j["text"].get<std::string>();
    if (!text.empty()) docs.push_back(std::move(text));
  }
  return docs;
}

}  // namespace

std::vector<std::string> read_documents(const std::string& path) {
  const std::string text = read_file_text(path);
  const std::vector<std::string> lines = split_lines(text);
  bool jsonl = ends_with(path, ".jsonl");
  if (!jsonl) {
    jsonl = true;
    bool any = false;
    for (const auto& line : lines) {
      if (whitespace_only(line)) continue;
      any = true;
      if (line[line.find_first_not_of(" \t")] != '{') jsonl = false;
    }
    jsonl = jsonl && any;
  }
  std::vector<std::string> docs;
  if (jsonl) {
    docs = read_jsonl(path, lines);
  } else {
    std::string current;
    for (const auto& line : lines) {
      if (blank(line)) {
        if (!whitespace_only(current)) docs.push_back(std::move(current));
        current.clear();
      } else {
        if (!current.empty()) current += '\n';
        current += line;
      }
    }
    if (!whitespace_only(current)) docs.push_back(std::move(current));
  }
  if (docs.empty()) throw input_error("'", path, "' holds no documents (empty file?)");
  return docs;
}

std::vector<std::vector<int32_t>> tokenize_documents(const std::vector<std::string>& documents,
                                                     const Tokenizer& tokenizer, int64_t max_tokens) {
  std::vector<std::vector<int32_t>> out;
  out.reserve(documents.size());
  for (const auto& doc : documents) {
    std::vector<int32_t> ids{tokenizer.bos_id()};
    const std::vector<int32_t> body = tokenizer.encode(doc);
    ids.insert(ids.end(), body.begin(), body.end());
    if (max_tokens > 0 && static_cast<int64_t>(ids.size()) > max_tokens) ids.resize(static_cast<size_t>(max_tokens));
    out.push_back(std::move(ids));
  }
  return out;
}

}  // namespace seedforge
