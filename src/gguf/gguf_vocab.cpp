// Tokenizer -> tokenizer.ggml.* metadata (what is written: gguf_vocab.h).
#include "gguf/gguf_vocab.h"

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "gguf/gguf_file.h"
#include "infer/model.h"
#include "tokenizer/llama2c_tokenizer.h"

namespace seedforge::gguf {

namespace {

// llama.cpp's token types (llama_token_type).
constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6;

struct Vocabulary {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  int32_t unknown = 0;
  bool add_space_prefix = true;
  std::vector<std::string> merges;  // BPE: "a b" in rank order
  std::string pre;                  // BPE: llama.cpp's pre-tokenizer name
};

Vocabulary llama2c(const infer::Model& m) {
  const std::unique_ptr<Tokenizer> tok = m.make_tokenizer();
  const auto* t = dynamic_cast<const Llama2cTokenizer*>(tok.get());
  if (t == nullptr) throw runtime_error("GGUF export: llama2c tokenizer expected");
  Vocabulary v;
  for (int32_t id = 0; id < t->vocab_size(); ++id) {
    std::string piece = t->piece(id);
    int32_t type = kNormal;
    unsigned byte = 0;
    char tail = 0;
    if (id == 0) {
      piece = "<unk>";
      type = kUnknown;
    } else if (id == m.config.bos_id) {
      piece = "<s>";
      type = kControl;
    } else if (id == m.config.eos_id) {
      piece = "</s>";
      type = kControl;
    } else if (piece.size() == 6 && std::sscanf(piece.c_str(), "<0x%2X%c", &byte, &tail) == 2 && tail == '>') {
      type = kByte;
    } else {
      std::string spm;
      for (char ch : piece) spm += ch == ' ' ? std::string("\xe2\x96\x81") : std::string(1, ch);
      piece = spm;
    }
    v.tokens.push_back(piece);
    v.scores.push_back(t->score(id));
    v.types.push_back(type);
  }
  return v;
}

// ---- a serialized SentencePiece ModelProto, read as protobuf wire format ----
// ModelProto: 1 repeated SentencePiece pieces, 3 NormalizerSpec normalizer_spec.
// SentencePiece: 1 string piece, 2 float score, 3 enum type (default 1).
// NormalizerSpec: 3 bool add_dummy_prefix (default true).

struct Wire {
  const uint8_t* p;
  const uint8_t* end;
  const std::string& where;

  bool done() const { return p >= end; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) throw input_error(where, ": SentencePiece model: truncated varint");
      const uint8_t b = *p++;
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw input_error(where, ": SentencePiece model: varint longer than 10 bytes");
  }
  Wire sub() {
    const uint64_t n = varint();
    if (n > uint64_t(end - p)) throw input_error(where, ": SentencePiece model: field of ", n, " bytes runs past the end");
    Wire w{p, p + n, where};
    p += n;
    return w;
  }
  void skip(int wire_type) {
    switch (wire_type) {
      case 0: varint(); return;
      case 1: advance(8); return;
      case 2: sub(); return;
      case 5: advance(4); return;
    }
    throw input_error(where, ": SentencePiece model: unknown wire type ", wire_type);
  }
  void advance(size_t n) {
    if (n > size_t(end - p)) throw input_error(where, ": SentencePiece model: truncated field");
    p += n;
  }
};

Vocabulary sentencepiece(const infer::Model& m) {
  const std::string where = m.path + " (embedded sentencepiece tokenizer)";
  const auto* bytes = reinterpret_cast<const uint8_t*>(m.tokenizer_bytes.data());
  Wire top{bytes, bytes + m.tokenizer_bytes.size(), where};
  Vocabulary v;
  v.unknown = -1;
  while (!top.done()) {
    const uint64_t key = top.varint();
    const int field = int(key >> 3), wt = int(key & 7);
    if (field == 1 && wt == 2) {
      Wire piece = top.sub();
      std::string text;
      float score = 0.0f;
      int32_t type = kNormal;
      while (!piece.done()) {
        const uint64_t k = piece.varint();
        const int f = int(k >> 3), t = int(k & 7);
        if (f == 1 && t == 2) {
          Wire s = piece.sub();
          text.assign(reinterpret_cast<const char*>(s.p), size_t(s.end - s.p));
        } else if (f == 2 && t == 5) {
          std::memcpy(&score, piece.p, 4);
          piece.advance(4);
        } else if (f == 3 && t == 0) {
          type = static_cast<int32_t>(piece.varint());
          if (type < 1 || type > 6) throw input_error(where, ": piece ", v.tokens.size(), " has type ", type, " (1 to 6)");
        } else {
          piece.skip(t);
        }
      }
      if (type == kUnknown && v.unknown < 0) v.unknown = static_cast<int32_t>(v.tokens.size());
      v.tokens.push_back(text);
      v.scores.push_back(score);
      v.types.push_back(type);
    } else if (field == 3 && wt == 2) {
      Wire spec = top.sub();
      while (!spec.done()) {
        const uint64_t k = spec.varint();
        if ((k >> 3) == 3 && (k & 7) == 0) v.add_space_prefix = spec.varint() != 0;
        else spec.skip(int(k & 7));
      }
    } else {
      top.skip(wt);
    }
  }
  if (static_cast<int64_t>(v.tokens.size()) != m.config.vocab_size) {
    throw input_error(where, ": ", v.tokens.size(), " pieces, the model's vocabulary is ", m.config.vocab_size);
  }
  if (v.unknown < 0) v.unknown = 0;
  return v;
}

// llama.cpp's name for a tokenizer.json's pre-tokenizer, or "": GPT-2's
// byte-level regex ("gpt-2"), or a Split by Qwen2's or Llama 3's regex
// followed by a byte-level step ("qwen2", "llama-bpe").
std::string pre_tokenizer_name(const nlohmann::json& pre) {
  using json = nlohmann::json;
  static const std::string qwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  static const std::string llama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  if (!pre.is_object()) return "";
  const std::string type = pre.value("type", "");
  if (type == "ByteLevel") return pre.value("use_regex", true) ? "gpt-2" : "";
  if (type != "Sequence" || !pre.contains("pretokenizers") || !pre["pretokenizers"].is_array()) return "";
  std::string regex;
  bool byte_level = false;
  for (const json& step : pre["pretokenizers"]) {
    const std::string t = step.value("type", "");
    if (t == "Split" && step.contains("pattern") && step["pattern"].contains("Regex")) {
      regex = step["pattern"]["Regex"].get<std::string>();
    } else if (t == "ByteLevel") {
      byte_level = true;
    } else {
      return "";
    }
  }
  if (!byte_level) return "";
  if (regex == qwen2) return "qwen2";
  if (regex == llama3) return "llama-bpe";
  return "";
}

// A byte-level BPE tokenizer.json as llama.cpp's "gpt2" vocabulary.
Vocabulary bpe(const infer::Model& m) {
  using json = nlohmann::json;
  const std::string where = m.path + " (embedded bpe tokenizer)";
  json root;
  try {
    root = json::parse(m.tokenizer_bytes);
  } catch (const json::exception& e) {
    throw input_error(where, ": not JSON: ", e.what());
  }
  Vocabulary v;
  const int64_t V = m.config.vocab_size;
  v.tokens.assign(static_cast<size_t>(V), "");
  v.types.assign(static_cast<size_t>(V), kNormal);
  const json& model = root.at("model");
  for (const auto& [token, id] : model.at("vocab").items()) {
    const int64_t i = id.get<int64_t>();
    if (i < 0 || i >= V) throw input_error(where, ": vocabulary id ", i, " is outside the model's ", V);
    v.tokens[static_cast<size_t>(i)] = token;
  }
  if (root.contains("added_tokens") && root["added_tokens"].is_array()) {
    for (const json& t : root["added_tokens"]) {
      const int64_t i = t.at("id").get<int64_t>();
      if (i < 0 || i >= V) throw input_error(where, ": added token id ", i, " is outside the model's ", V);
      v.tokens[static_cast<size_t>(i)] = t.at("content").get<std::string>();
      v.types[static_cast<size_t>(i)] = t.value("special", false) ? kControl : kUserDefined;
    }
  }
  for (int64_t i = 0; i < V; ++i) {
    if (v.tokens[static_cast<size_t>(i)].empty()) {
      v.tokens[static_cast<size_t>(i)] = "[PAD" + std::to_string(i) + "]";
      v.types[static_cast<size_t>(i)] = kUnused;
    }
  }
  for (int64_t id : {m.config.bos_id, m.config.eos_id}) {
    if (id >= 0 && id < V) v.types[static_cast<size_t>(id)] = kControl;
  }
  for (const json& merge : model.at("merges")) {
    if (merge.is_string()) v.merges.push_back(merge.get<std::string>());
    else v.merges.push_back(merge.at(0).get<std::string>() + " " + merge.at(1).get<std::string>());
  }
  v.pre = pre_tokenizer_name(root.contains("pre_tokenizer") ? root["pre_tokenizer"] : json());
  if (v.pre.empty()) {
    throw usage_error("GGUF export: ", where, ": its pre-tokenizer is not one this exporter names for llama.cpp "
                      "(GPT-2's byte-level regex, Qwen2's or Llama 3's split)");
  }
  v.scores.clear();
  return v;
}

}  // namespace

void write_vocabulary(const infer::Model& m, Writer& w) {
  Vocabulary v;
  if (m.tokenizer_kind == "llama2c") {
    v = llama2c(m);
  } else if (m.tokenizer_kind == "sentencepiece") {
    v = sentencepiece(m);
  } else if (m.tokenizer_kind == "bpe") {
    v = bpe(m);
  } else {
    throw usage_error("GGUF export: unknown tokenizer kind '", m.tokenizer_kind, "'");
  }
  // A vocabulary padded past the tokenizer (Qwen2.5, Phi-3: embedding rows
  // no token maps to) gets unused placeholder tokens, as Hugging Face's
  // GGUF converter writes them: llama.cpp wants one token per row.
  for (int64_t id = int64_t(v.tokens.size()); id < m.config.vocab_size; ++id) {
    v.tokens.push_back("[PAD" + std::to_string(id) + "]");
    v.scores.push_back(0.0f);
    v.types.push_back(kUnused);
  }
  const bool gpt2 = m.tokenizer_kind == "bpe";
  w.set("tokenizer.ggml.model", Value::str(gpt2 ? "gpt2" : "llama"));
  if (gpt2) w.set("tokenizer.ggml.pre", Value::str(v.pre));
  w.set("tokenizer.ggml.tokens", Value::strings(v.tokens));
  if (!gpt2) w.set("tokenizer.ggml.scores", Value::f32s(v.scores));
  w.set("tokenizer.ggml.token_type", Value::i32s(v.types));
  if (gpt2) w.set("tokenizer.ggml.merges", Value::strings(v.merges));
  if (m.config.bos_id >= 0) w.set("tokenizer.ggml.bos_token_id", Value::u32(static_cast<uint32_t>(m.config.bos_id)));
  if (m.config.eos_id >= 0) w.set("tokenizer.ggml.eos_token_id", Value::u32(static_cast<uint32_t>(m.config.eos_id)));
  if (!gpt2) w.set("tokenizer.ggml.unknown_token_id", Value::u32(static_cast<uint32_t>(v.unknown)));
  w.set("tokenizer.ggml.add_bos_token", Value::boolean(!gpt2));
  w.set("tokenizer.ggml.add_eos_token", Value::boolean(false));
  if (!gpt2) w.set("tokenizer.ggml.add_space_prefix", Value::boolean(v.add_space_prefix));
}

}  // namespace seedforge::gguf
