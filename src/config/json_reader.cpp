#include "config/json_reader.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace seedforge {

namespace {

std::string dotted(const std::vector<std::string>& path, const std::string& key) {
  std::string out;
  for (const std::string& part : path) {
    if (!part.empty()) out += part + ".";
  }
  return out + key;
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; the
// rest ("parse error at line 3, column 5: syntax error ...") is what helps.
std::string strip_exception_id(const std::string& what) {
  if (!what.empty() && what[0] == '[') {
    const size_t end = what.find("] ");
    if (end != std::string::npos) return what.substr(end + 2);
  }
  return what;
}

}  // namespace

nlohmann::json parse_json_strict(const std::string& text, const std::string& where) {
  using nlohmann::json;
  // nlohmann keeps the last of duplicate keys silently; a config that sets
  // bitnet.lr twice is almost certainly a mistake, so the callback refuses it.
  std::vector<std::set<std::string>> seen;  // keys of each open object
  std::vector<std::string> path;            // key of each open object/array
  std::string last_key;
  json::parser_callback_t callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        path.push_back(last_key);
        seen.emplace_back();
        last_key.clear();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        seen.pop_back();
        path.pop_back();
        last_key.clear();
        break;
      case json::parse_event_t::key: {
        const std::string key = parsed.get<std::string>();
        if (!seen.back().insert(key).second) {
          throw usage_error(where, ": duplicate key '", dotted(path, key), "'");
        }
        last_key = key;
        break;
      }
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    return json::parse(text, callback);
  } catch (const json::parse_error& e) {
    throw usage_error(where, ": invalid JSON (byte ", e.byte, "): ", strip_exception_id(e.what()));
  } catch (const json::exception& e) {
    // e.g. out_of_range.406 "number overflow parsing '1e999'".
    throw usage_error(where, ": invalid JSON: ", strip_exception_id(e.what()));
  }
}

size_t edit_distance(const std::string& a, const std::string& b) {
  // One row of the classic dynamic programme: row[j] = distance(a[0..i), b[0..j)).
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string closest_key(const std::string& key, const std::vector<std::string>& candidates, size_t max_distance) {
  std::string best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const std::string& candidate : candidates) {
    const size_t d = edit_distance(key, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best_distance <= max_distance ? best : std::string();
}

std::string json_for_message(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

JsonSectionReader::JsonSectionReader(const nlohmann::json& object, std::string prefix, std::string where)
    : object_(object), prefix_(std::move(prefix)), where_(std::move(where)) {}

const nlohmann::json* JsonSectionReader::find(const char* key) {
  known_.push_back(key);
  const auto it = object_.find(key);
  return it == object_.end() ? nullptr : &*it;
}

std::vector<std::string> JsonSectionReader::known_keys() const {
  std::vector<std::string> out;
  for (const std::string& key : known_) out.push_back(prefix_ + key);
  return out;
}

std::vector<std::string> JsonSectionReader::unread_keys() const {
  std::vector<std::string> out;
  for (const auto& item : object_.items()) {
    if (std::find(known_.begin(), known_.end(), item.key()) == known_.end()) out.push_back(prefix_ + item.key());
  }
  return out;
}

void JsonSectionReader::read(const char* key, double& out) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return;
  if (!value->is_number()) {
    throw usage_error(where_, ": ", prefix_, key, " must be a number, got ", value->type_name(), " ",
                      json_for_message(*value));
  }
  const double x = value->get<double>();
  // parse_json_strict refuses 1e999, but a caller may build the json itself.
  if (!std::isfinite(x)) throw usage_error(where_, ": ", prefix_, key, " must be a finite number");
  out = x;
}

void JsonSectionReader::read(const char* key, bool& out) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return;
  if (!value->is_boolean()) {
    throw usage_error(where_, ": ", prefix_, key, " must be true or false, got ", value->type_name(), " ",
                      json_for_message(*value));
  }
  out = value->get<bool>();
}

void JsonSectionReader::read(const char* key, std::string& out) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return;
  if (!value->is_string()) {
    throw usage_error(where_, ": ", prefix_, key, " must be a string, got ", value->type_name(), " ",
                      json_for_message(*value));
  }
  out = value->get<std::string>();
}

void JsonSectionReader::read(const char* key, std::vector<std::string>& out) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return;
  if (value->is_string()) {
    const std::string& one = value->get_ref<const std::string&>();
    out = one.empty() ? std::vector<std::string>{} : std::vector<std::string>{one};
    return;
  }
  if (!value->is_array()) {
    throw usage_error(where_, ": ", prefix_, key, " must be a string or an array of strings, got ",
                      value->type_name(), " ", json_for_message(*value));
  }
  std::vector<std::string> items;
  for (size_t i = 0; i < value->size(); ++i) {
    const nlohmann::json& item = (*value)[i];
    if (!item.is_string()) {
      throw usage_error(where_, ": ", prefix_, key, "[", i, "] must be a string, got ", item.type_name(), " ",
                        json_for_message(item));
    }
    items.push_back(item.get<std::string>());
  }
  out = std::move(items);
}

int64_t JsonSectionReader::read_integer(const char* key, const nlohmann::json& value, int64_t lo, int64_t hi) const {
  if (!value.is_number()) {
    throw usage_error(where_, ": ", prefix_, key, " must be an integer, got ", value.type_name(), " ",
                      json_for_message(value));
  }
  if (value.is_number_float()) {
    // 2.0 is accepted as 2; 2.5 is not an integer.
    const double x = value.get<double>();
    if (!std::isfinite(x) || x != std::floor(x)) {
      throw usage_error(where_, ": ", prefix_, key, " must be an integer, got ", json_for_message(value));
    }
    if (x < static_cast<double>(lo) || x > static_cast<double>(hi)) {
      throw usage_error(where_, ": ", prefix_, key, " is out of range [", lo, ", ", hi, "], got ",
                        json_for_message(value));
    }
    return static_cast<int64_t>(x);
  }
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) {
      throw usage_error(where_, ": ", prefix_, key, " is out of range [", lo, ", ", hi, "], got ", u);
    }
    return static_cast<int64_t>(u);
  }
  const int64_t i = value.get<int64_t>();
  if (i < lo || i > hi) {
    throw usage_error(where_, ": ", prefix_, key, " is out of range [", lo, ", ", hi, "], got ", i);
  }
  return i;
}

void JsonSectionReader::read(const char* key, int& out) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return;
  out = static_cast<int>(
      read_integer(key, *value, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
}

void JsonSectionReader::read(const char* key, int64_t& out) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return;
  out = read_integer(key, *value, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
}

void JsonSectionReader::read(const char* key, uint64_t& out) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return;
  if (value->is_number_unsigned()) {
    out = value->get<uint64_t>();
    return;
  }
  // Negative integers and non-integral floats are refused here; the range
  // message says what is allowed.
  const int64_t i = read_integer(key, *value, 0, std::numeric_limits<int64_t>::max());
  out = static_cast<uint64_t>(i);
}

}  // namespace seedforge
