#include "tokenizer/llama2c_tokenizer.h"

#include <cmath>
#include <cstring>
#include <queue>

#include "common/error.h"

namespace seedforge {
namespace {

// run.c starts its best-pair search at -1e10: pairs scoring at or below it never merge.
constexpr float kNoMergeScore = -1e10f;

bool mergeable_score(float score) { return !std::isnan(score) && score > kNoMergeScore; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "<0xXX>" -> the byte value, else -1.
int byte_piece_value(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  const int hi = hex_value(piece[3]);
  const int lo = hex_value(piece[4]);
  if (hi < 0 || lo < 0) return -1;
  return hi * 16 + lo;
}

int32_t read_i32(const std::string& bytes, size_t offset) {
  int32_t value;
  std::memcpy(&value, bytes.data() + offset, sizeof(value));
  return value;
}

float read_f32(const std::string& bytes, size_t offset) {
  float value;
  std::memcpy(&value, bytes.data() + offset, sizeof(value));
  return value;
}

}  // namespace

Llama2cTokenizer::Llama2cTokenizer(const std::string& bytes, const std::string& where)
    : bytes_(bytes), where_(where) {
  if (bytes.size() < 4) {
    throw input_error("llama2.c tokenizer '", where, "': truncated header: expected 4 bytes (int32 max_token_length), got ",
                      bytes.size());
  }
  max_token_length_ = read_i32(bytes, 0);
  if (max_token_length_ <= 0 || max_token_length_ > (1 << 20)) {
    throw input_error("llama2.c tokenizer '", where, "': max_token_length ", max_token_length_,
                      " is not in 1..1048576 (is this a llama2.c tokenizer.bin?)");
  }
  size_t offset = 4;
  while (offset < bytes.size()) {
    const size_t index = pieces_.size();
    if (bytes.size() - offset < 8) {
      throw input_error("llama2.c tokenizer '", where, "': token ", index, ": truncated record at offset ", offset,
                        ": expected 8 bytes (float32 score, int32 length), got ", bytes.size() - offset);
    }
    const float score = read_f32(bytes, offset);
    const int32_t length = read_i32(bytes, offset + 4);
    offset += 8;
    if (length < 0) {
      throw input_error("llama2.c tokenizer '", where, "': token ", index, ": negative length ", length);
    }
    if (length > max_token_length_) {
      throw input_error("llama2.c tokenizer '", where, "': token ", index, ": length ", length,
                        " exceeds max_token_length ", max_token_length_);
    }
    if (bytes.size() - offset < static_cast<size_t>(length)) {
      throw input_error("llama2.c tokenizer '", where, "': token ", index, ": truncated piece: expected ", length,
                        " bytes at offset ", offset, ", got ", bytes.size() - offset);
    }
    pieces_.emplace_back(bytes, offset, static_cast<size_t>(length));
    scores_.push_back(score);
    offset += static_cast<size_t>(length);
  }
  // Byte fallback emits ids 3..258, so those must exist and be the byte pieces.
  const size_t n_needed = kByteOffset + 256;
  if (pieces_.size() < n_needed) {
    throw input_error("llama2.c tokenizer '", where, "': vocabulary has ", pieces_.size(), " tokens, expected at least ",
                      n_needed, " (<unk>, BOS, EOS and 256 byte pieces)");
  }
  for (int b = 0; b < 256; ++b) {
    if (byte_piece_value(pieces_[kByteOffset + b]) != b) {
      throw input_error("llama2.c tokenizer '", where, "': token ", kByteOffset + b, ": expected byte piece <0x",
                        "0123456789ABCDEF"[b / 16], "0123456789ABCDEF"[b % 16], ">, got '", pieces_[kByteOffset + b], "'");
    }
  }
  piece_to_id_.reserve(pieces_.size() * 2);
  for (size_t i = 0; i < pieces_.size(); ++i) {
    // First occurrence wins on duplicate pieces (run.c's bsearch picks an arbitrary one).
    piece_to_id_.emplace(pieces_[i], static_cast<int32_t>(i));
  }
  if (piece_to_id_.count(" ") == 0) {
    throw input_error("llama2.c tokenizer '", where, "': no \" \" piece for the dummy prefix");
  }
}

int32_t Llama2cTokenizer::lookup(const std::string& piece) const {
  const auto it = piece_to_id_.find(piece);
  return it == piece_to_id_.end() ? -1 : it->second;
}

void Llama2cTokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= vocab_size()) {
    throw input_error("llama2.c tokenizer '", where_, "': token id ", id, " is out of range [0, ", vocab_size(), ")");
  }
}

const std::string& Llama2cTokenizer::piece(int32_t id) const {
  check_id(id);
  return pieces_[static_cast<size_t>(id)];
}

float Llama2cTokenizer::score(int32_t id) const {
  check_id(id);
  return scores_[static_cast<size_t>(id)];
}

std::vector<int32_t> Llama2cTokenizer::initial_ids(const std::string& text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() + 1);
  if (text.empty()) return ids;
  ids.push_back(lookup(" "));
  // Mirrors run.c byte by byte: a non-continuation byte starts a code point,
  // continuation bytes join it up to 4 bytes. Unlike run.c (C strings), an
  // embedded NUL byte does not end the text.
  char buffer[5];
  size_t length = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80) length = 0;
    buffer[length++] = static_cast<char>(c);
    const bool next_is_continuation =
        i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80;
    if (next_is_continuation && length < 4) continue;
    const int32_t id = lookup(std::string(buffer, length));
    if (id != -1) {
      ids.push_back(id);
    } else {
      for (size_t k = 0; k < length; ++k) ids.push_back(static_cast<unsigned char>(buffer[k]) + kByteOffset);
    }
    length = 0;
  }
  return ids;
}

std::vector<int32_t> Llama2cTokenizer::encode_naive(const std::string& text) const {
  std::vector<int32_t> ids = initial_ids(text);
  std::string pair;
  while (true) {
    float best_score = kNoMergeScore;
    int32_t best_id = -1;
    size_t best_index = 0;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      pair = pieces_[ids[i]];
      pair += pieces_[ids[i + 1]];
      const int32_t id = lookup(pair);
      if (id != -1 && scores_[id] > best_score) {
        best_score = scores_[id];
        best_id = id;
        best_index = i;
      }
    }
    if (best_id == -1) break;
    ids[best_index] = best_id;
    ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(best_index) + 1);
  }
  return ids;
}

std::vector<int32_t> Llama2cTokenizer::encode(const std::string& text) const {
  // The same merges as encode_naive(), in O(n log n): symbols form a linked
  // list, candidate pairs sit in a max-heap ordered by (score, then leftmost
  // position) -- exactly run.c's choice, since its scan keeps the first of
  // equal scores. Entries made stale by an earlier merge are skipped on pop.
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;  // -1 at the ends
    bool alive;
  };
  struct Candidate {
    float score;
    int32_t left;
    int32_t right;
    int32_t left_id;
    int32_t right_id;
    int32_t merged_id;
  };
  struct WorseThan {
    bool operator()(const Candidate& a, const Candidate& b) const {
      if (a.score != b.score) return a.score < b.score;
      return a.left > b.left;
    }
  };

  const std::vector<int32_t> initial = initial_ids(text);
  const int32_t n = static_cast<int32_t>(initial.size());
  std::vector<Symbol> symbols(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) symbols[i] = {initial[i], i - 1, i + 1 < n ? i + 1 : -1, true};

  std::vector<Candidate> storage;
  storage.reserve(static_cast<size_t>(n) * 2);
  std::priority_queue<Candidate, std::vector<Candidate>, WorseThan> heap(WorseThan(), std::move(storage));
  std::string pair;
  auto try_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const std::string& a = pieces_[symbols[left].id];
    const std::string& b = pieces_[symbols[right].id];
    if (a.size() + b.size() > static_cast<size_t>(max_token_length_)) return;
    pair.assign(a);
    pair += b;
    const int32_t id = lookup(pair);
    if (id == -1 || !mergeable_score(scores_[id])) return;
    heap.push({scores_[id], left, right, symbols[left].id, symbols[right].id, id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) try_pair(i, i + 1);

  while (!heap.empty()) {
    const Candidate top = heap.top();
    heap.pop();
    Symbol& left = symbols[top.left];
    Symbol& right = symbols[top.right];
    if (!left.alive || !right.alive || left.next != top.right || left.id != top.left_id || right.id != top.right_id) {
      continue;  // stale: one side was merged since this pair was queued
    }
    left.id = top.merged_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    try_pair(left.prev, top.left);
    try_pair(top.left, left.next);
  }

  std::vector<int32_t> ids;
  ids.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i >= 0 && i < n; i = symbols[i].next) ids.push_back(symbols[i].id);
  return ids;
}

std::string Llama2cTokenizer::decode_piece(int32_t previous, int32_t id) const {
  check_id(id);
  const std::string& full = pieces_[static_cast<size_t>(id)];
  // run.c: after BOS the leading space of the dummy prefix is dropped.
  const bool drop_space = previous == kBos && !full.empty() && full[0] == ' ';
  const std::string piece = drop_space ? full.substr(1) : full;
  const int byte = byte_piece_value(piece);
  if (byte >= 0) return std::string(1, static_cast<char>(byte));
  return piece;
}

std::string Llama2cTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string text;
  int32_t previous = kBos;
  for (const int32_t id : ids) {
    check_id(id);
    if (id != kBos && id != kEos) text += decode_piece(previous, id);
    previous = id;
  }
  return text;
}

}  // namespace seedforge
