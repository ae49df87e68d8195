#include "eval/hellaswag.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"

namespace seedforge {

namespace {

constexpr const char* kWhitespace = " \t\n\r\f\v";

bool blank(const std::string& line) { return line.find_first_not_of(kWhitespace) == std::string::npos; }

// Lines without their '\n' (and a trailing '\r'); a final newline does not
// start an extra empty line.
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

std::string strip(const std::string& s) {
  const size_t first = s.find_first_not_of(kWhitespace);
  if (first == std::string::npos) return "";
  const size_t last = s.find_last_not_of(kWhitespace);
  return s.substr(first, last - first + 1);
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to) {
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += to;
    pos = hit + from.size();
  }
  out.append(s, pos, std::string::npos);
  return out;
}

// Python's str.capitalize() on ASCII letters: first upper, the rest lower
// (bytes >= 0x80, i.e. non-ASCII UTF-8, are left as they are).
std::string capitalize(const std::string& s) {
  std::string out = s;
  for (size_t i = 0; i < out.size(); ++i) {
    const char c = out[i];
    if (i == 0 && c >= 'a' && c <= 'z') out[i] = static_cast<char>(c - 'a' + 'A');
    if (i > 0 && c >= 'A' && c <= 'Z') out[i] = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string string_field(const nlohmann::json& j, const char* key, const std::string& where, size_t line) {
  if (!j.contains(key)) throw input_error(where, " line ", line, ": missing field \"", key, "\"");
  if (!j[key].is_string()) {
    throw input_error(where, " line ", line, ": field \"", key, "\" must be a string, got ", j[key].type_name());
  }
  return j[key].get<std::string>();
}

int32_t parse_label(const nlohmann::json& value, const std::string& where, size_t line) {
  int64_t label = -1;
  if (value.is_number_integer()) {
    label = value.get<int64_t>();
  } else if (value.is_string()) {
    const std::string s = strip(value.get<std::string>());
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) {
      throw input_error(where, " line ", line, ": \"label\" must be an ending index, got \"", value.get<std::string>(), "\"");
    }
    label = std::stoll(s);
  } else {
    throw input_error(where, " line ", line, ": \"label\" must be an integer, got ", value.type_name());
  }
  if (label < 0 || label >= kHellaswagEndings) {
    throw input_error(where, " line ", line, ": label ", label, " out of range: expected 0..", kHellaswagEndings - 1);
  }
  return static_cast<int32_t>(label);
}

}  // namespace

std::string hellaswag_preprocess(const std::string& text) {
  std::string s = replace_all(strip(text), " [title]", ". ");
  // Drop "[...]" spans (regex \[.*?\]: the shortest one, not across a newline).
  std::string no_brackets;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '[') {
      const size_t close = s.find_first_of("]\n", i + 1);
      if (close != std::string::npos && s[close] == ']') {
        i = close;
        continue;
      }
    }
    no_brackets += s[i];
  }
  // Python's replace("  ", " "): non-overlapping, left to right ("   " -> "  ").
  std::string out;
  for (size_t i = 0; i < no_brackets.size(); ++i) {
    out += no_brackets[i];
    if (no_brackets[i] == ' ' && i + 1 < no_brackets.size() && no_brackets[i + 1] == ' ') ++i;
  }
  return out;
}

std::vector<MultipleChoiceTask> parse_hellaswag_jsonl(const std::string& contents, const std::string& where) {
  const std::vector<std::string> lines = split_lines(contents);
  std::vector<MultipleChoiceTask> tasks;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (blank(lines[i])) continue;
    const size_t line = i + 1;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(lines[i]);
    } catch (const std::exception& e) {
      throw input_error(where, " line ", line, ": invalid JSON: ", e.what());
    }
    if (!j.is_object()) throw input_error(where, " line ", line, ": expected a JSON object, got ", j.type_name());
    const std::string activity = string_field(j, "activity_label", where, line);
    std::string ctx;
    if (j.contains("ctx_a")) {
      ctx = string_field(j, "ctx_a", where, line) + " " + capitalize(string_field(j, "ctx_b", where, line));
    } else if (j.contains("ctx")) {
      ctx = string_field(j, "ctx", where, line);
    } else {
      throw input_error(where, " line ", line, ": missing field \"ctx\" (or \"ctx_a\" and \"ctx_b\")");
    }
    if (!j.contains("endings")) throw input_error(where, " line ", line, ": missing field \"endings\"");
    const auto& endings = j["endings"];
    if (!endings.is_array()) {
      throw input_error(where, " line ", line, ": \"endings\" must be an array, got ", endings.type_name());
    }
    if (endings.size() != kHellaswagEndings) {
      throw input_error(where, " line ", line, ": expected ", kHellaswagEndings, " endings, got ", endings.size());
    }
    if (!j.contains("label")) throw input_error(where, " line ", line, ": missing field \"label\"");

    MultipleChoiceTask task;
    task.line = static_cast<int64_t>(line);
    task.context = hellaswag_preprocess(activity + ": " + ctx);
    for (size_t e = 0; e < endings.size(); ++e) {
      if (!endings[e].is_string()) {
        throw input_error(where, " line ", line, ": ending ", e, " must be a string, got ", endings[e].type_name());
      }
      task.endings.push_back(hellaswag_preprocess(endings[e].get<std::string>()));
      if (task.endings.back().empty()) throw input_error(where, " line ", line, ": ending ", e, " is empty");
    }
    task.label = parse_label(j["label"], where, line);
    tasks.push_back(std::move(task));
  }
  return tasks;
}

std::vector<MultipleChoiceTask> parse_hellaswag_text(const std::string& contents, const std::string& where) {
  std::vector<std::string> lines = split_lines(contents);
  while (!lines.empty() && lines.back().empty()) lines.pop_back();  // trailing blank lines at the end only
  const size_t per_task = 2 + kHellaswagEndings;
  if (lines.size() % per_task != 0) {
    throw input_error(where, ": ", lines.size(), " lines is not a multiple of ", per_task,
                      " (llama.cpp --hellaswag layout: context, gold index, ", kHellaswagEndings,
                      " endings per task); the last task, from line ", lines.size() / per_task * per_task + 1,
                      ", is incomplete");
  }
  std::vector<MultipleChoiceTask> tasks;
  for (size_t first = 0; first < lines.size(); first += per_task) {
    MultipleChoiceTask task;
    task.line = static_cast<int64_t>(first + 1);
    task.context = lines[first];
    if (blank(task.context)) throw input_error(where, " line ", first + 1, ": empty context");
    const std::string gold = strip(lines[first + 1]);
    if (gold.empty() || gold.size() > 9 || gold.find_first_not_of("0123456789") != std::string::npos) {
      throw input_error(where, " line ", first + 2, ": expected the gold ending index (0..", kHellaswagEndings - 1,
                        "), got \"", lines[first + 1], "\" (is the file in the 6-lines-a-task layout?)");
    }
    const int64_t label = std::stoll(gold);
    if (label >= kHellaswagEndings) {
      throw input_error(where, " line ", first + 2, ": label ", label, " out of range: expected 0..",
                        kHellaswagEndings - 1);
    }
    task.label = static_cast<int32_t>(label);
    for (size_t e = 0; e < static_cast<size_t>(kHellaswagEndings); ++e) {
      task.endings.push_back(lines[first + 2 + e]);
      if (task.endings.back().empty()) throw input_error(where, " line ", first + 3 + e, ": ending ", e, " is empty");
    }
    tasks.push_back(std::move(task));
  }
  return tasks;
}

std::vector<MultipleChoiceTask> read_hellaswag(const std::string& path, std::string* layout) {
  const std::string contents = read_file_text(path);
  const size_t first = contents.find_first_not_of(kWhitespace);
  if (first == std::string::npos) throw input_error("'", path, "' holds no HellaSwag tasks (empty file?)");
  const bool jsonl = contents[first] == '{';
  const std::string where = "'" + path + "'";
  std::vector<MultipleChoiceTask> tasks =
      jsonl ? parse_hellaswag_jsonl(contents, where) : parse_hellaswag_text(contents, where);
  if (tasks.empty()) throw input_error(where, " holds no HellaSwag tasks");
  if (layout != nullptr) *layout = jsonl ? "jsonl" : "text";
  return tasks;
}

}  // namespace seedforge
