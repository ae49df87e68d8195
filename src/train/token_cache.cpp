#include "train/token_cache.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "common/file_util.h"
#include "eval/documents.h"

namespace seedforge {
namespace {

constexpr char kMagic[8] = {'S', 'F', 'T', 'O', 'K', 'S', '0', '1'};
constexpr uint64_t kFormatVersion = 1;
constexpr size_t kHeaderBytes = 8 + 3 * sizeof(uint64_t);

uint64_t fnv1a(uint64_t h, const void* data, size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;  // FNV-1a 64 prime
  }
  return h;
}

uint64_t fnv1a_sized(uint64_t h, const std::string& s) {
  const uint64_t n = s.size();  // the length first: "ab"+"c" differs from "a"+"bc"
  return fnv1a(fnv1a(h, &n, sizeof n), s.data(), s.size());
}

template <typename T>
void append(std::vector<uint8_t>& out, const T& value) {
  const auto* p = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

template <typename T>
T read_at(const std::vector<uint8_t>& bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

}  // namespace

uint64_t token_cache_key(const std::vector<std::string>& documents, const std::string& tokenizer_kind,
                         const std::string& tokenizer_bytes) {
  uint64_t h = fnv1a(14695981039346656037ull, &kFormatVersion, sizeof kFormatVersion);
  h = fnv1a_sized(h, tokenizer_kind);
  h = fnv1a_sized(h, tokenizer_bytes);
  for (const std::string& doc : documents) h = fnv1a_sized(h, doc);
  return h;
}

std::string resolve_token_cache_dir(const std::string& configured) {
  if (configured == "none") return "";
  if (!configured.empty()) return configured;
  if (const char* dir = std::getenv("SEEDFORGE_CACHE"); dir != nullptr && *dir != '\0') return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/seedforge";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::string(home) + "/.cache/seedforge";
  }
  return "";
}

std::string token_cache_file(const std::string& dir, uint64_t key) {
  char name[40];
  std::snprintf(name, sizeof name, "tokens-%016llx.bin", static_cast<unsigned long long>(key));
  return (std::filesystem::path(dir) / name).string();
}

std::optional<TokenizedDocuments> read_token_cache(const std::string& dir, uint64_t key) {
  const std::string path = token_cache_file(dir, key);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  std::vector<uint8_t> bytes;
  try {
    bytes = read_file_bytes(path);
  } catch (const Error&) {
    return std::nullopt;
  }
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), kMagic, 8) != 0) return std::nullopt;
  if (read_at<uint64_t>(bytes, 8) != key) return std::nullopt;
  const uint64_t n_docs = read_at<uint64_t>(bytes, 16), n_tokens = read_at<uint64_t>(bytes, 24);
  // Sizes checked before any allocation: a damaged header must not ask for terabytes.
  const uint64_t body = bytes.size() - kHeaderBytes;
  if (n_docs > body / sizeof(uint32_t) || n_tokens > body / sizeof(int32_t) ||
      n_docs * sizeof(uint32_t) + n_tokens * sizeof(int32_t) != body) {
    return std::nullopt;
  }
  TokenizedDocuments docs(static_cast<size_t>(n_docs));
  size_t length_at = kHeaderBytes, token_at = kHeaderBytes + n_docs * sizeof(uint32_t);
  uint64_t seen = 0;
  for (auto& doc : docs) {
    const uint32_t n = read_at<uint32_t>(bytes, length_at);
    length_at += sizeof(uint32_t);
    if (n > n_tokens - seen) return std::nullopt;
    doc.resize(n);
    std::memcpy(doc.data(), bytes.data() + token_at, n * sizeof(int32_t));
    token_at += n * sizeof(int32_t);
    seen += n;
  }
  if (seen != n_tokens) return std::nullopt;
  return docs;
}

void write_token_cache(const std::string& dir, uint64_t key, const TokenizedDocuments& documents) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw runtime_error("cannot create the token cache folder '", dir, "': ", ec.message());
  uint64_t n_tokens = 0;
  for (const auto& doc : documents) n_tokens += doc.size();
  std::vector<uint8_t> bytes;
  bytes.reserve(kHeaderBytes + documents.size() * sizeof(uint32_t) + n_tokens * sizeof(int32_t));
  bytes.insert(bytes.end(), kMagic, kMagic + 8);
  append(bytes, key);
  append(bytes, static_cast<uint64_t>(documents.size()));
  append(bytes, n_tokens);
  for (const auto& doc : documents) {
    if (doc.size() > UINT32_MAX) throw runtime_error("token cache: a document of ", doc.size(), " tokens");
    append(bytes, static_cast<uint32_t>(doc.size()));
  }
  for (const auto& doc : documents) {
    const auto* p = reinterpret_cast<const uint8_t*>(doc.data());
    bytes.insert(bytes.end(), p, p + doc.size() * sizeof(int32_t));
  }
  write_file_atomic(token_cache_file(dir, key), bytes.data(), bytes.size());
}

TokenizedDocuments tokenize_cached(const std::vector<std::string>& documents, const Tokenizer& tokenizer,
                                   const std::string& dir, TokenCacheUse* use,
                                   const std::function<void(const std::string&)>& warn) {
  TokenCacheUse local;
  TokenCacheUse& u = use != nullptr ? *use : local;
  u = TokenCacheUse{};
  if (dir.empty()) return tokenize_documents(documents, tokenizer, 0);
  const uint64_t key = token_cache_key(documents, tokenizer.kind(), tokenizer.to_bytes());
  u.file = token_cache_file(dir, key);
  if (std::optional<TokenizedDocuments> cached = read_token_cache(dir, key)) {
    if (cached->size() == documents.size()) {
      u.hit = true;
      return std::move(*cached);
    }
  }
  TokenizedDocuments docs = tokenize_documents(documents, tokenizer, 0);
  try {
    write_token_cache(dir, key, docs);
  } catch (const Error& e) {
    if (warn) warn(concat("token cache not written (", e.what(), "); the next run tokenizes again"));
    u.file.clear();
  }
  return docs;
}

}  // namespace seedforge
