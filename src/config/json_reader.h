// Checked reading of JSON config values: types, integer ranges, enum
// spellings and unknown keys, each error naming "<where>: <dotted key>".
//
// A JsonSectionReader wraps one JSON object (a config section); every read()
// names the key it looks for, so that afterwards the keys that were present
// but never read are exactly the unknown ones.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace seedforge {

// Parses JSON text; a syntax error or a duplicate key is a usage_error naming
// `where` and the line/column/byte (or the dotted key).
nlohmann::json parse_json_strict(const std::string& text, const std::string& where);

// Levenshtein distance (bytes), for "did you mean" hints.
size_t edit_distance(const std::string& a, const std::string& b);

// The candidate closest to `key`, or "" when none is within `max_distance`.
std::string closest_key(const std::string& key, const std::vector<std::string>& candidates, size_t max_distance);

// JSON value for messages: the dump, cut to 40 characters.
std::string json_for_message(const nlohmann::json& value);

class JsonSectionReader {
 public:
  // `object` must outlive the reader; `prefix` is "bitnet." etc. ("" for the root).
  JsonSectionReader(const nlohmann::json& object, std::string prefix, std::string where);

  // Each read() leaves `out` unchanged when the key is absent.
  void read(const char* key, double& out);
  void read(const char* key, bool& out);
  void read(const char* key, std::string& out);
  void read(const char* key, int& out);
  void read(const char* key, int64_t& out);
  void read(const char* key, uint64_t& out);
  // A string (one entry; "" for none) or an array of strings.
  void read(const char* key, std::vector<std::string>& out);

  // One of `names` (value, spelling) pairs.
  template <typename Enum>
  void read_choice(const char* key, Enum& out, const std::vector<std::pair<Enum, const char*>>& names) {
    const nlohmann::json* value = find(key);
    if (value == nullptr) return;
    std::string options;
    for (size_t i = 0; i < names.size(); ++i) options += std::string(i ? ", " : "") + "\"" + names[i].second + "\"";
    if (!value->is_string()) {
      throw usage_error(where_, ": ", prefix_, key, " must be one of ", options, ", got ", value->type_name(), " ",
                        json_for_message(*value));
    }
    const std::string& text = value->get_ref<const std::string&>();
    for (const auto& [e, name] : names) {
      if (text == name) {
        out = e;
        return;
      }
    }
    throw usage_error(where_, ": ", prefix_, key, " must be one of ", options, ", got ", json_for_message(*value));
  }

  // Dotted names ("bitnet.lr") of every key asked for so far.
  std::vector<std::string> known_keys() const;
  // Dotted names of keys present in the object but never asked for.
  std::vector<std::string> unread_keys() const;

 private:
  // nullptr when absent; marks `key` as known.
  const nlohmann::json* find(const char* key);
  int64_t read_integer(const char* key, const nlohmann::json& value, int64_t lo, int64_t hi) const;

  const nlohmann::json& object_;
  std::string prefix_;
  std::string where_;
  std::vector<std::string> known_;
};

}  // namespace seedforge
