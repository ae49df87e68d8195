#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <queue>

#include "common/error.h"
#include "common/file_util.h"
#include "tokenizer/unicode_nfc.h"
#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

namespace seedforge {
namespace {

using json = nlohmann::json;

constexpr int32_t kMaxVocab = 1 << 24;
constexpr size_t kMaxCacheEntries = 1 << 18;

// GPT-2's bytes_to_unicode(): printable bytes map to themselves, the other 68
// to U+0100.. in byte order, so every byte string is a printable string.
struct ByteTable {
  static constexpr uint32_t kNoByte = 0xFFFF;
  uint32_t byte_to_cp[256];
  uint32_t cp_to_byte[324];  // the code points used are < 256 + 68
  std::string byte_to_utf8[256];

  ByteTable() {
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    uint32_t next = 256;
    for (uint32_t& b : cp_to_byte) b = kNoByte;
    for (int b = 0; b < 256; ++b) {
      byte_to_cp[b] = printable(b) ? static_cast<uint32_t>(b) : next++;
      cp_to_byte[byte_to_cp[b]] = static_cast<uint32_t>(b);
      utf8::append(byte_to_utf8[b], byte_to_cp[b]);
    }
  }
};

const ByteTable& byte_table() {
  static const ByteTable table;
  return table;
}

// A vocabulary string back to bytes; like HF's ByteLevel decoder, a string
// with a character outside the table is taken as its own UTF-8 bytes.
std::string byte_decode(const std::string& token) {
  const ByteTable& table = byte_table();
  std::string out;
  for (size_t pos = 0; pos < token.size();) {
    size_t length;
    const uint32_t cp = utf8::decode(token, pos, length);
    if (cp >= 324 || table.cp_to_byte[cp] == ByteTable::kNoByte) return token;
    out += static_cast<char>(table.cp_to_byte[cp]);
    pos += length;
  }
  return out;
}

json parse_json(const std::string& text, const std::string& where) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw input_error("'", where, "': not valid JSON: ", e.what());
  }
}

std::string type_of(const json& node) {
  if (node.is_object() && node.contains("type") && node["type"].is_string()) return node["type"].get<std::string>();
  return "";
}

bool flag(const json& node, const char* key, bool fallback) {
  if (!node.contains(key) || node[key].is_null()) return fallback;
  if (!node[key].is_boolean()) throw input_error("field '", key, "' is not a boolean");
  return node[key].get<bool>();
}

// bos_token / eos_token in tokenizer_config.json: a string, {"content": ...} or null.
std::string special_name(const json& config, const char* key) {
  if (!config.is_object() || !config.contains(key)) return "";
  const json& value = config[key];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return value["content"].get<std::string>();
  }
  return "";
}

// lstrip / rstrip absorb ASCII whitespace around an added token.
bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

bool is_word_char(const std::string& text, size_t pos_before_or_at, bool before) {
  // The character ending just before `pos` (before) or starting at `pos`.
  if (before) {
    if (pos_before_or_at == 0) return false;
    size_t start = pos_before_or_at - 1;
    while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
    size_t length;
    const uint32_t cp = utf8::decode(text, start, length);
    return unicode::is_letter(cp) || unicode::is_number(cp) || cp == '_';
  }
  if (pos_before_or_at >= text.size()) return false;
  size_t length;
  const uint32_t cp = utf8::decode(text, pos_before_or_at, length);
  return unicode::is_letter(cp) || unicode::is_number(cp) || cp == '_';
}

}  // namespace

// ---------------------------------------------------------------- loading

void BpeTokenizer::set_vocab(const std::vector<std::pair<std::string, int32_t>>& vocab) {
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab) {
    if (id < 0 || id >= kMaxVocab) throw input_error("'", where_, "': token '", token, "' has id ", id, " outside [0, ", kMaxVocab, ")");
    max_id = std::max(max_id, id);
  }
  tokens_.assign(static_cast<size_t>(max_id + 1), "");
  token_to_id_.reserve(vocab.size() * 2);
  token_defined_.assign(tokens_.size(), 0);
  for (const auto& [token, id] : vocab) {
    if (token_defined_[id]) {
      throw input_error("'", where_, "': id ", id, " is used by both '", tokens_[id], "' and '", token, "'");
    }
    tokens_[id] = token;
    token_defined_[id] = 1;
    token_to_id_.emplace(token, id);
  }
}

void BpeTokenizer::define_added(const AddedToken& added) {
  if (added.id < 0 || added.id >= kMaxVocab) {
    throw input_error("added token '", added.content, "' has id ", added.id, " outside [0, ", kMaxVocab, ")");
  }
  if (added.id < vocab_size() && token_defined_[added.id]) {
    // An added token may repeat a vocabulary entry (GPT-2's <|endoftext|>).
    if (tokens_[added.id] != added.content) {
      throw input_error("added token '", added.content, "' has id ", added.id, " which the vocabulary gives to '",
                        tokens_[added.id], "'");
    }
    return;
  }
  if (added.id >= vocab_size()) {
    tokens_.resize(static_cast<size_t>(added.id) + 1);
    token_defined_.resize(tokens_.size(), 0);
  }
  tokens_[added.id] = added.content;
  token_defined_[added.id] = 1;
  token_to_id_.emplace(added.content, added.id);
}

void BpeTokenizer::add_merge(const std::string& a, const std::string& b, const std::string& context) {
  const int32_t a_id = token_to_id(a);
  const int32_t b_id = token_to_id(b);
  const int32_t merged = token_to_id(a + b);
  if (a_id < 0 || b_id < 0 || merged < 0) {
    throw input_error(context, ": merge '", a, " ", b, "' uses a token that is not in the vocabulary ('",
                      a_id < 0 ? a : (b_id < 0 ? b : a + b), "')");
  }
  const int32_t rank = static_cast<int32_t>(merge_list_.size());
  merge_list_.emplace_back(a_id, b_id);
  // A repeated pair takes its last rank, as both HF tokenizers and gpt-3-encoder do.
  merges_[(static_cast<uint64_t>(a_id) << 32) | static_cast<uint32_t>(b_id)] = {rank, merged};
  const std::string comma_key = a + "," + b;
  if (a.find(',') != std::string::npos || b.find(',') != std::string::npos) comma_ranks_[comma_key] = rank;
}

void BpeTokenizer::finish(const std::string& where) {
  const ByteTable& table = byte_table();
  for (int b = 0; b < 256; ++b) {
    byte_to_id_[b] = token_to_id(table.byte_to_utf8[b]);
    if (byte_to_id_[b] < 0) {
      throw input_error("'", where, "': the vocabulary lacks the byte-level token '", table.byte_to_utf8[b],
                        "' for byte ", b, " (not a byte-level BPE vocabulary?)");
    }
  }
  token_special_.assign(tokens_.size(), 0);
  token_has_comma_.assign(tokens_.size(), 0);
  token_bytes_.assign(tokens_.size(), "");
  for (size_t id = 0; id < tokens_.size(); ++id) {
    token_has_comma_[id] = tokens_[id].find(',') != std::string::npos;
    token_bytes_[id] = byte_decode(tokens_[id]);
  }
  added_by_first_byte_.assign(256, {});
  for (size_t i = 0; i < added_.size(); ++i) {
    if (added_[i].special) token_special_[added_[i].id] = 1;
    added_by_first_byte_[static_cast<uint8_t>(added_[i].content[0])].push_back(i);
  }
  for (auto& list : added_by_first_byte_) {
    std::stable_sort(list.begin(), list.end(),
                     [&](size_t x, size_t y) { return added_[x].content.size() > added_[y].content.size(); });
  }
}

int32_t BpeTokenizer::resolve_special(const std::string& name, const std::string& what) const {
  const int32_t id = token_to_id(name);
  if (id < 0) throw input_error("'", where_, "': ", what, " '", name, "' is not in the vocabulary");
  return id;
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_gpt2_files(const std::string& vocab_path,
                                                            const std::string& merges_path) {
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer());
  t->where_ = vocab_path;
  t->gpt3_encoder_compat_ = std::filesystem::path(vocab_path).filename() == "encoder.json";
  t->spaces_ = t->gpt3_encoder_compat_ ? SpaceClass::kEcmaScript : SpaceClass::kUnicode;
  t->pre_tokenizer_ = {{true, SplitPattern::kGpt2, false, true}};

  const json vocab = parse_json(read_file_text(vocab_path), vocab_path);
  if (!vocab.is_object()) throw input_error("'", vocab_path, "': expected a JSON object {token: id}");
  std::vector<std::pair<std::string, int32_t>> entries;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer()) throw input_error("'", vocab_path, "': token '", it.key(), "' has a non-integer id");
    entries.emplace_back(it.key(), it.value().get<int32_t>());
  }
  t->set_vocab(entries);

  // merges: "#version" header, then one "a b" pair a line.
  const std::string text = read_file_text(merges_path);
  size_t line_no = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    const size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || line.find(' ', space + 1) != std::string::npos ||
        space + 1 == line.size()) {
      throw input_error("'", merges_path, "' line ", line_no, ": expected 'left right', got '", line, "'");
    }
    t->add_merge(line.substr(0, space), line.substr(space + 1),
                 "'" + merges_path + "' line " + std::to_string(line_no));
  }
  t->finish(vocab_path);
  t->bos_id_ = t->eos_id_ = t->token_to_id("<|endoftext|>");
  return t;
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_tokenizer_json_file(const std::string& path) {
  const std::filesystem::path config = std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  const std::string config_text =
      std::filesystem::is_regular_file(config, ec) ? read_file_text(config.string()) : std::string();
  return from_tokenizer_json(read_file_text(path), path, config_text);
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_tokenizer_json(const std::string& json_text, const std::string& where,
                                                                const std::string& config_text) {
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer());
  t->where_ = where;
  t->source_json_ = json_text;
  const json root = parse_json(json_text, where);
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object()) {
    throw input_error("'", where, "': not a tokenizer.json (no \"model\" object)");
  }
  const json extension = root.contains("seedforge") ? root["seedforge"] : json::object();
  if (extension.contains("compat") && extension["compat"] == "gpt-3-encoder") {
    t->gpt3_encoder_compat_ = true;
    t->spaces_ = SpaceClass::kEcmaScript;
  }

  try {
    // model
    const json& model = root["model"];
    const std::string model_type = type_of(model);
    if (!model_type.empty() && model_type != "BPE") {
      throw input_error("model type '", model_type, "' is not supported (only BPE)");
    }
    if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() != 0.0) {
      throw input_error("model.dropout ", model["dropout"].dump(), " is not supported");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (model.contains(key) && !model[key].is_null() && model[key] != "") {
        throw input_error("model.", key, " '", model[key].get<std::string>(), "' is not supported");
      }
    }
    if (flag(model, "byte_fallback", false)) {
      throw input_error("model.byte_fallback is not supported (a SentencePiece-style BPE, not byte-level)");
    }
    t->ignore_merges_ = flag(model, "ignore_merges", false);
    if (!model.contains("vocab") || !model["vocab"].is_object()) throw input_error("model.vocab is missing");
    std::vector<std::pair<std::string, int32_t>> entries;
    for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
      if (!it.value().is_number_integer()) throw input_error("model.vocab: token '", it.key(), "' has a non-integer id");
      entries.emplace_back(it.key(), it.value().get<int32_t>());
    }
    // added tokens may sit beyond the model vocabulary
    if (root.contains("added_tokens") && !root["added_tokens"].is_null()) {
      for (const json& added : root["added_tokens"]) {
        if (!added.contains("id") || !added["id"].is_number_integer() || !added.contains("content") ||
            !added["content"].is_string() || added["content"].get<std::string>().empty()) {
          throw input_error("added_tokens: entry ", added.dump(), " lacks an integer id or a non-empty content");
        }
        AddedToken token{added["id"].get<int32_t>(), added["content"].get<std::string>(),
                         flag(added, "single_word", false), flag(added, "lstrip", false), flag(added, "rstrip", false),
                         flag(added, "special", false)};
        t->added_.push_back(token);
      }
    }
    t->set_vocab(entries);
    for (const AddedToken& added : t->added_) t->define_added(added);
    if (!model.contains("merges") || !model["merges"].is_array()) throw input_error("model.merges is missing");
    size_t index = 0;
    for (const json& merge : model["merges"]) {
      std::string a, b;
      if (merge.is_string()) {  // "a b" (tokenizers < 0.20)
        const std::string s = merge.get<std::string>();
        const size_t space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
          throw input_error("model.merges[", index, "]: expected 'left right', got '", s, "'");
        }
        a = s.substr(0, space);
        b = s.substr(space + 1);
      } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
        a = merge[0].get<std::string>();
        b = merge[1].get<std::string>();
      } else {
        throw input_error("model.merges[", index, "]: expected \"left right\" or [left, right], got ", merge.dump());
      }
      t->add_merge(a, b, "tokenizer.json '" + where + "' model.merges[" + std::to_string(index) + "]");
      ++index;
    }

    // normalizer
    const json normalizer = root.contains("normalizer") ? root["normalizer"] : json();
    std::vector<json> normalizers;
    if (type_of(normalizer) == "Sequence") {
      // Checked first: operator[] on a const json reads out of bounds for a missing key.
      if (!normalizer.contains("normalizers") || !normalizer["normalizers"].is_array()) {
        throw input_error("normalizer Sequence has no \"normalizers\" array");
      }
      for (const json& n : normalizer["normalizers"]) normalizers.push_back(n);
    } else if (!normalizer.is_null()) {
      normalizers.push_back(normalizer);
    }
    for (const json& n : normalizers) {
      if (type_of(n) != "NFC") throw input_error("normalizer '", type_of(n), "' is not supported (only NFC)");
      t->normalize_nfc_ = true;
    }

    // pre_tokenizer
    const json pre = root.contains("pre_tokenizer") ? root["pre_tokenizer"] : json();
    std::vector<json> steps;
    if (type_of(pre) == "Sequence") {
      if (!pre.contains("pretokenizers") || !pre["pretokenizers"].is_array()) {
        throw input_error("pre_tokenizer Sequence has no \"pretokenizers\" array");
      }
      for (const json& p : pre["pretokenizers"]) steps.push_back(p);
    } else if (!pre.is_null()) {
      steps.push_back(pre);
    }
    bool has_byte_level = false;
    for (const json& step : steps) {
      const std::string type = type_of(step);
      if (type == "ByteLevel") {
        has_byte_level = true;
        t->pre_tokenizer_.push_back(
            {true, SplitPattern::kGpt2, flag(step, "add_prefix_space", false), flag(step, "use_regex", true)});
      } else if (type == "Split") {
        if (!step.contains("pattern") || !step["pattern"].is_object() || !step["pattern"].contains("Regex")) {
          throw input_error("pre_tokenizer Split: only a {\"Regex\": ...} pattern is supported, got ",
                            step.value("pattern", json()).dump());
        }
        const std::string regex = step["pattern"]["Regex"].get<std::string>();
        SplitPattern pattern;
        if (!find_split_pattern(regex, pattern)) {
          throw input_error("pre_tokenizer Split regex '", regex,
                            "' is not one of the supported GPT-2 / Llama 3 / Qwen2 patterns");
        }
        if (step.value("behavior", std::string("Isolated")) != "Isolated" || flag(step, "invert", false)) {
          throw input_error("pre_tokenizer Split: only behavior Isolated without invert is supported");
        }
        t->pre_tokenizer_.push_back({false, pattern, false, false});
      } else {
        throw input_error("pre_tokenizer '", type, "' is not supported (ByteLevel, Split or a Sequence of them)");
      }
    }
    if (!has_byte_level) throw input_error("pre_tokenizer has no ByteLevel step: not a byte-level BPE tokenizer");

    const json decoder = root.contains("decoder") ? root["decoder"] : json();
    if (!decoder.is_null() && type_of(decoder) != "ByteLevel") {
      throw input_error("decoder '", type_of(decoder), "' is not supported (only ByteLevel)");
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kInput || std::string(e.what()).find(where) != std::string::npos) throw;
    throw input_error("tokenizer.json '", where, "': ", e.what());
  } catch (const json::exception& e) {
    throw input_error("tokenizer.json '", where, "': unexpected field type: ", e.what());
  }
  t->finish(where);

  // BOS / EOS: the seedforge extension, else tokenizer_config.json, else well-known names.
  const json config = config_text.empty() ? json::object() : parse_json(config_text, where + " tokenizer_config.json");
  for (const bool bos : {true, false}) {
    const char* key = bos ? "bos_token" : "eos_token";
    int32_t& id = bos ? t->bos_id_ : t->eos_id_;
    if (extension.contains(key)) {
      if (extension[key].is_string()) id = t->resolve_special(extension[key].get<std::string>(), key);
      continue;
    }
    const std::string name = special_name(config, key);
    if (!name.empty()) {
      id = t->resolve_special(name, std::string("tokenizer_config.json ") + key);
      continue;
    }
    const std::vector<std::string> known = bos ? std::vector<std::string>{"<|begin_of_text|>", "<s>", "<|endoftext|>"}
                                               : std::vector<std::string>{"<|end_of_text|>", "</s>", "<|endoftext|>"};
    for (const std::string& candidate : known) {
      if (t->token_to_id(candidate) >= 0) {
        id = t->token_to_id(candidate);
        break;
      }
    }
  }
  return t;
}

std::string BpeTokenizer::to_bytes() const {
  json root;
  if (!source_json_.empty()) {
    root = json::parse(source_json_);
  } else {
    // Rebuild a tokenizer.json from the GPT-2 files.
    json vocab = json::object();
    for (size_t id = 0; id < tokens_.size(); ++id) {
      if (token_defined_[id]) vocab[tokens_[id]] = id;
    }
    json merges = json::array();
    for (const auto& [a, b] : merge_list_) merges.push_back(tokens_[a] + " " + tokens_[b]);
    const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    root = {{"version", "1.0"},
            {"added_tokens", json::array()},
            {"normalizer", nullptr},
            {"pre_tokenizer", byte_level},
            {"post_processor", nullptr},
            {"decoder", byte_level},
            {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"vocab", vocab}, {"merges", merges}}}};
  }
  root["seedforge"] = {{"compat", gpt3_encoder_compat_ ? json("gpt-3-encoder") : json(nullptr)},
                       {"bos_token", bos_id_ >= 0 ? json(tokens_[bos_id_]) : json(nullptr)},
                       {"eos_token", eos_id_ >= 0 ? json(tokens_[eos_id_]) : json(nullptr)}};
  return root.dump();
}

// ---------------------------------------------------------------- lookups

const std::string& BpeTokenizer::token(int32_t id) const {
  if (id < 0 || id >= vocab_size() || !token_defined_[id]) {
    throw input_error("BPE tokenizer '", where_, "': token id ", id, " is not in the vocabulary (size ", vocab_size(), ")");
  }
  return tokens_[id];
}

int32_t BpeTokenizer::token_to_id(const std::string& token) const {
  const auto it = token_to_id_.find(token);
  return it == token_to_id_.end() ? -1 : it->second;
}

bool BpeTokenizer::find_merge(int32_t a, int32_t b, Merge& merge) const {
  if (gpt3_encoder_compat_ && (token_has_comma_[a] || token_has_comma_[b])) {
    // gpt-3-encoder keys its ranks by String([a, b]) = a + "," + b: a pair
    // whose join equals another merge's join takes that merge's rank.
    const auto it = comma_ranks_.find(tokens_[a] + "," + tokens_[b]);
    if (it == comma_ranks_.end()) return false;
    merge.rank = it->second;
    merge.merged = token_to_id(tokens_[a] + tokens_[b]);
    if (merge.merged < 0) {
      throw runtime_error("BPE tokenizer '", where_, "': gpt-3-encoder would merge '", tokens_[a], "' + '", tokens_[b],
                          "' into a token outside the vocabulary");
    }
    return true;
  }
  const auto it = merges_.find((static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b));
  if (it == merges_.end()) return false;
  merge = it->second;
  return true;
}

int32_t BpeTokenizer::naive_rank(const std::string& a, const std::string& b) const {
  // Built on first use: only the reference encoder needs string-keyed ranks.
  std::call_once(naive_ranks_once_, [this] {
    naive_ranks_.reserve(merge_list_.size());
    for (size_t rank = 0; rank < merge_list_.size(); ++rank) {
      const std::string& x = tokens_[merge_list_[rank].first];
      const std::string& y = tokens_[merge_list_[rank].second];
      naive_ranks_[gpt3_encoder_compat_ ? x + "," + y : x + std::string(1, '\0') + y] = static_cast<int32_t>(rank);
    }
  });
  const auto it = naive_ranks_.find(gpt3_encoder_compat_ ? a + "," + b : a + std::string(1, '\0') + b);
  return it == naive_ranks_.end() ? -1 : it->second;
}

// ---------------------------------------------------------------- encoding

std::vector<BpeTokenizer::Segment> BpeTokenizer::split_added(const std::string& text) const {
  // Leftmost-longest matches of the added tokens on the raw text (HF matches
  // "normalized" added tokens after normalization; with the NFC normalizer
  // this only differs for added tokens that NFC would change).
  std::vector<Segment> segments;
  if (added_.empty()) {
    segments.push_back({-1, text});
    return segments;
  }
  size_t segment_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken* match = nullptr;
    for (const size_t index : added_by_first_byte_[static_cast<uint8_t>(text[pos])]) {
      const AddedToken& candidate = added_[index];
      if (text.compare(pos, candidate.content.size(), candidate.content) != 0) continue;
      if (candidate.single_word &&
          (is_word_char(text, pos, true) || is_word_char(text, pos + candidate.content.size(), false))) {
        continue;
      }
      match = &candidate;
      break;
    }
    if (match == nullptr) {
      ++pos;
      continue;
    }
    size_t start = pos;
    size_t end = pos + match->content.size();
    if (match->lstrip) {
      while (start > segment_start && is_ascii_space(text[start - 1])) --start;
    }
    if (match->rstrip) {
      while (end < text.size() && is_ascii_space(text[end])) ++end;
    }
    if (start > segment_start) segments.push_back({-1, text.substr(segment_start, start - segment_start)});
    segments.push_back({match->id, match->content});
    segment_start = pos = end;
  }
  if (segment_start < text.size()) segments.push_back({-1, text.substr(segment_start)});
  return segments;
}

std::vector<std::string> BpeTokenizer::pretokenize_segment(const std::string& text) const {
  std::vector<std::string> pieces{normalize_nfc_ ? nfc(text) : text};
  std::vector<std::string_view> views;
  for (const PreTokenizerStep& step : pre_tokenizer_) {
    std::vector<std::string> next;
    for (std::string& piece : pieces) {
      if (step.byte_level && step.add_prefix_space && piece.rfind(' ', 0) != 0) piece.insert(0, 1, ' ');
      if (step.byte_level && !step.use_regex) {
        next.push_back(std::move(piece));
        continue;
      }
      views.clear();
      split_pretokens(piece, step.pattern, spaces_, views);
      for (const std::string_view view : views) next.emplace_back(view);
    }
    pieces.swap(next);
  }
  return pieces;
}

std::vector<std::string> BpeTokenizer::pretokenize(const std::string& text) const {
  std::vector<std::string> out;
  for (const Segment& segment : split_added(text)) {
    if (segment.added_id >= 0) {
      out.push_back(segment.text);
      continue;
    }
    for (std::string& piece : pretokenize_segment(segment.text)) out.push_back(std::move(piece));
  }
  return out;
}

std::string BpeTokenizer::byte_encode(const std::string& piece) const {
  const ByteTable& table = byte_table();
  std::string out;
  out.reserve(piece.size() * 2);
  for (const char c : piece) out += table.byte_to_utf8[static_cast<uint8_t>(c)];
  return out;
}

void BpeTokenizer::bpe_piece(const std::string& piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(piece);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  const int32_t whole = ignore_merges_ ? token_to_id(byte_encode(piece)) : -1;
  if (whole >= 0) {
    ids.push_back(whole);
  } else {
    // Symbols in a linked list; candidate pairs in a min-heap by (rank, left
    // position), as HF tokenizers' merge_all. Stale entries are skipped.
    struct Symbol {
      int32_t id, prev, next;
      bool alive;
    };
    struct Candidate {
      int32_t rank, left, right, left_id, right_id, merged;
    };
    struct LaterThan {
      bool operator()(const Candidate& x, const Candidate& y) const {
        return x.rank != y.rank ? x.rank > y.rank : x.left > y.left;
      }
    };
    const int32_t n = static_cast<int32_t>(piece.size());
    std::vector<Symbol> symbols(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) {
      symbols[i] = {byte_to_id_[static_cast<uint8_t>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1, true};
    }
    std::priority_queue<Candidate, std::vector<Candidate>, LaterThan> heap;
    auto try_pair = [&](int32_t left, int32_t right) {
      if (left < 0 || right < 0) return;
      Merge merge;
      if (find_merge(symbols[left].id, symbols[right].id, merge)) {
        heap.push({merge.rank, left, right, symbols[left].id, symbols[right].id, merge.merged});
      }
    };
    for (int32_t i = 0; i + 1 < n; ++i) try_pair(i, i + 1);
    while (!heap.empty()) {
      const Candidate top = heap.top();
      heap.pop();
      Symbol& left = symbols[top.left];
      Symbol& right = symbols[top.right];
      if (!left.alive || !right.alive || left.next != top.right || left.id != top.left_id || right.id != top.right_id) {
        continue;
      }
      left.id = top.merged;
      right.alive = false;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = top.left;
      try_pair(left.prev, top.left);
      try_pair(top.left, left.next);
    }
    for (int32_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
  }
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_.emplace(piece, std::move(ids));
}

void BpeTokenizer::bpe_piece_naive(const std::string& piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  const std::string encoded = byte_encode(piece);
  if (ignore_merges_ && token_to_id(encoded) >= 0) {
    out.push_back(token_to_id(encoded));
    return;
  }
  std::vector<std::string> word;
  for (const char c : piece) word.push_back(byte_table().byte_to_utf8[static_cast<uint8_t>(c)]);
  while (word.size() > 1) {
    // The lowest rank; among equal ranks the last pair, as gpt-3-encoder's
    // minPairs[rank] = pair keeps the last one written.
    int32_t best_rank = std::numeric_limits<int32_t>::max();
    size_t best = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      const int32_t rank = naive_rank(word[i], word[i + 1]);
      if (rank >= 0 && rank <= best_rank) {
        best_rank = rank;
        best = i;
      }
    }
    if (best_rank == std::numeric_limits<int32_t>::max()) break;
    const std::string first = word[best];
    const std::string second = word[best + 1];
    std::vector<std::string> merged;
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i++]);
      }
    }
    word.swap(merged);
  }
  for (const std::string& symbol : word) {
    const int32_t id = token_to_id(symbol);
    if (id < 0) throw runtime_error("BPE tokenizer '", where_, "': merged symbol '", symbol, "' is not in the vocabulary");
    out.push_back(id);
  }
}

std::vector<int32_t> BpeTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  for (const Segment& segment : split_added(text)) {
    if (segment.added_id >= 0) {
      ids.push_back(segment.added_id);
      continue;
    }
    for (const std::string& piece : pretokenize_segment(segment.text)) bpe_piece(piece, ids);
  }
  return ids;
}

std::vector<int32_t> BpeTokenizer::encode_naive(const std::string& text) const {
  std::vector<int32_t> ids;
  for (const Segment& segment : split_added(text)) {
    if (segment.added_id >= 0) {
      ids.push_back(segment.added_id);
      continue;
    }
    for (const std::string& piece : pretokenize_segment(segment.text)) bpe_piece_naive(piece, ids);
  }
  return ids;
}

// ---------------------------------------------------------------- decoding

std::string BpeTokenizer::decode_piece(int32_t /*previous*/, int32_t id) const {
  token(id);  // range check
  if (token_special_[id] || id == bos_id_ || id == eos_id_) return "";
  return token_bytes_[id];
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string text;
  for (const int32_t id : ids) text += decode_piece(-1, id);
  return text;
}

}  // namespace seedforge
