// A cache of tokenized training text: the documents of a corpus as
// [BOS] + encode(doc) (uncut), stored once per (text, tokenizer) so that the
// next run over the same corpus skips tokenizing it. Torch-free.
//
// The key is FNV-1a 64 over a format version, the tokenizer's kind and
// serialized bytes (Tokenizer::to_bytes) and every document's text with its
// length, in order: any change to the text, the order of the files or the
// tokenizer gives another key, hence another file.
//
// File "<dir>/tokens-<key hex>.bin", little-endian:
//   magic "SFTOKS01" | key u64 | documents u64 | tokens u64
//   | length u32 per document | tokens i32
// written atomically (temporary + rename). A file that is short, has another
// magic or key, or whose lengths do not add up is ignored and rewritten: the
// cache can only save time, never change a result.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace seedforge {

using TokenizedDocuments = std::vector<std::vector<int32_t>>;

uint64_t token_cache_key(const std::vector<std::string>& documents, const std::string& tokenizer_kind,
                         const std::string& tokenizer_bytes);

// The folder a config value names: "" = $SEEDFORGE_CACHE, else
// $XDG_CACHE_HOME/seedforge, else $HOME/.cache/seedforge (else "" = no cache);
// "none" = no cache.
std::string resolve_token_cache_dir(const std::string& configured);

std::string token_cache_file(const std::string& dir, uint64_t key);

// The cached documents, or nullopt when there is no valid file for `key`.
std::optional<TokenizedDocuments> read_token_cache(const std::string& dir, uint64_t key);

// Creates `dir` when missing. Throws runtime_error naming the file when it cannot be written.
void write_token_cache(const std::string& dir, uint64_t key, const TokenizedDocuments& documents);

// What tokenize_cached did.
struct TokenCacheUse {
  bool hit = false;
  std::string file;  // "" when the cache is off
};

// tokenize_documents(documents, tokenizer, 0) through the cache in `dir` ("" = off).
// A cache that cannot be written is reported through `warn` and skipped.
TokenizedDocuments tokenize_cached(const std::vector<std::string>& documents, const Tokenizer& tokenizer,
                                   const std::string& dir, TokenCacheUse* use = nullptr,
                                   const std::function<void(const std::string&)>& warn = nullptr);

}  // namespace seedforge
