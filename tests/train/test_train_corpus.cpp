// Training text at scale: bitnet.train_text as files, folders and globs (read
// in a fixed order, never the evaluation text), several files read as their
// concatenation, and the token cache: reused on the next run, a new file when
// the text or the tokenizer changes, a damaged or unwritable cache ignored.
#include <filesystem>
#include <functional>
#include <fstream>

#include "common/data_paths.h"
#include "common/error.h"
#include "common/text_sources.h"
#include "config/stage1_config.h"
#include "eval/documents.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/token_cache.h"
#include "train/train_data.h"
#include "train/train_options.h"

using namespace seedforge;
namespace fs = std::filesystem;

namespace {

// The message of the error `fn` throws, checking its kind (exit code 1 for
// input, 2 for usage).
std::string error_of(const std::function<void()>& fn, ErrorKind kind = ErrorKind::kUsage) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e.what();
  }
  return "no error";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The first `n` paragraphs of TinyStories train.txt, joined as the file has them.
std::vector<std::string> stories(size_t n) {
  std::vector<std::string> docs = read_documents(data_path("text/tinystories/train.txt"));
  docs.resize(n);
  return docs;
}

std::string joined(const std::vector<std::string>& docs, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) out += docs[i] + "\n\n";
  return out;
}

TrainOptions options() {
  TrainOptions o;
  o.seq_len = 32;
  return o;
}

}  // namespace

TEST(TextSources, FilesFoldersAndGlobsExpandInAFixedOrder) {
  test::TempDir dir;
  fs::create_directories(dir.file("corpus"));
  for (const char* name : {"b.txt", "a.jsonl", "c.txt", "notes.md", ".hidden.txt"}) {
    test::write_text(dir.file(std::string("corpus/") + name), "x\n");
  }
  test::write_text(dir.file("one.txt"), "y\n");
  const std::string c = dir.file("corpus/");
  // A folder: its .txt and .jsonl files by name (dot-files are files too, but not .md).
  EXPECT_EQ(expand_text_sources({dir.file("corpus")}, "f"),
            (std::vector<std::string>{c + ".hidden.txt", c + "a.jsonl", c + "b.txt", c + "c.txt"}));
  // Entries keep their order; a glob matches the last component (not dot-files), by name.
  EXPECT_EQ(expand_text_sources({dir.file("one.txt"), dir.file("corpus/*.txt")}, "f"),
            (std::vector<std::string>{dir.file("one.txt"), c + "b.txt", c + "c.txt"}));
  EXPECT_EQ(expand_text_sources({dir.file("corpus/[ab].*")}, "f"), (std::vector<std::string>{c + "a.jsonl", c + "b.txt"}));

  EXPECT_TRUE(contains(error_of([&] { expand_text_sources({dir.file("nope.txt")}, "bitnet.train_text"); }, ErrorKind::kInput),
                       "bitnet.train_text: '" + dir.file("nope.txt") + "' does not exist"));
  EXPECT_TRUE(contains(error_of([&] { expand_text_sources({dir.file("corpus/*.csv")}, "bitnet.train_text"); }, ErrorKind::kInput),
                       "matches no file"));
  fs::create_directories(dir.file("empty"));
  EXPECT_TRUE(contains(error_of([&] { expand_text_sources({dir.file("empty")}, "bitnet.train_text"); }, ErrorKind::kInput),
                       "holds no .txt or .jsonl file"));
  EXPECT_TRUE(contains(error_of([&] { expand_text_sources({dir.file("corpus"), c + "b.txt"}, "f"); }), "named twice"));
  EXPECT_TRUE(contains(error_of([&] { expand_text_sources({dir.file("*/b.txt")}, "f"); }), "only the last path component"));
}

TEST(TextSources, TheEvaluationTextIsNeverTrainedOn) {
  test::TempDir dir;
  fs::create_directories(dir.file("text"));
  test::write_text(dir.file("text/train.txt"), "a\n");
  test::write_text(dir.file("text/valid.txt"), "b\n");
  Stage1Config c;
  c.eval.text = dir.file("text/valid.txt");
  c.bitnet.train_text = {dir.file("text")};  // a folder takes valid.txt in
  const std::string m = error_of([&] { resolve_train_text(c); });
  EXPECT_TRUE(contains(m, "bitnet.train_text includes '" + dir.file("text/valid.txt") + "', the eval.text text")) << m;
  c.bitnet.train_text = {dir.file("text/../text/./valid.txt")};  // another spelling of the same file
  EXPECT_TRUE(contains(error_of([&] { resolve_train_text(c); }), "the eval.text text")) << m;
  c.bitnet.train_text = {dir.file("text/train.txt")};
  EXPECT_EQ(resolve_train_text(c), std::vector<std::string>{dir.file("text/train.txt")});
}

TEST(TrainCorpus, SeveralFilesGiveTheWindowsOfTheirConcatenation) {
  test::TempDir dir;
  const auto tokenizer = load_tokenizer(test::stories_tokenizer());
  const std::vector<std::string> docs = stories(30);
  test::write_text(dir.file("a.txt"), joined(docs, 0, 11));
  test::write_text(dir.file("b.txt"), joined(docs, 11, 30));
  test::write_text(dir.file("ab.txt"), joined(docs, 0, 30));
  TrainOptions o = options();
  o.valid_fraction = 0.1;
  const TrainData parts = load_train_data({dir.file("a.txt"), dir.file("b.txt")}, "", *tokenizer, o, 512);
  const TrainData whole = load_train_data({dir.file("ab.txt")}, "", *tokenizer, o, 512);
  EXPECT_EQ(parts.stream, whole.stream);
  EXPECT_EQ(parts.windows, whole.windows);
  EXPECT_EQ(parts.valid_documents, whole.valid_documents);  // held out from the end of the last file
  EXPECT_EQ(parts.train_documents, 27);
  // And the same as the in-memory documents.
  const TrainData memory = make_train_data(docs, "docs", {}, "", *tokenizer, o, 512);
  EXPECT_EQ(parts.stream, memory.stream);
  EXPECT_EQ(parts.valid_documents, memory.valid_documents);
}

TEST(TokenCache, ReusedOnTheNextRunAndRenewedWhenTextOrTokenizerChange) {
  test::TempDir dir;
  const auto tokenizer = load_tokenizer(test::stories_tokenizer());
  const std::vector<std::string> docs = stories(20);
  test::write_text(dir.file("t.txt"), joined(docs, 0, 20));
  const std::string cache = dir.file("cache");
  const TrainOptions o = options();

  const TrainData first = load_train_data({dir.file("t.txt")}, "", *tokenizer, o, 512, cache);
  ASSERT_EQ(first.token_cache.rfind("wrote ", 0), 0u) << first.token_cache;
  const std::string file = first.token_cache.substr(6);
  EXPECT_TRUE(fs::exists(file));
  const TrainData second = load_train_data({dir.file("t.txt")}, "", *tokenizer, o, 512, cache);
  EXPECT_EQ(second.token_cache, "read " + file);
  EXPECT_EQ(second.stream, first.stream);
  const TrainData uncached = load_train_data({dir.file("t.txt")}, "", *tokenizer, o, 512, "");
  EXPECT_EQ(uncached.token_cache, "");
  EXPECT_EQ(uncached.stream, first.stream);

  // Changed text: another key, another file; the old one stays valid for the old text.
  test::write_text(dir.file("t.txt"), joined(docs, 0, 19));
  const TrainData changed = load_train_data({dir.file("t.txt")}, "", *tokenizer, o, 512, cache);
  EXPECT_EQ(changed.token_cache.rfind("wrote ", 0), 0u) << changed.token_cache;
  EXPECT_NE(changed.token_cache.substr(6), file);
  EXPECT_LT(changed.stream.size(), first.stream.size());
  // Another tokenizer (its bytes, or its kind) gives another key.
  const uint64_t key = token_cache_key(docs, tokenizer->kind(), tokenizer->to_bytes());
  std::string other_bytes = tokenizer->to_bytes();
  other_bytes[other_bytes.size() / 2] ^= 1;
  EXPECT_NE(token_cache_key(docs, tokenizer->kind(), other_bytes), key);
  EXPECT_NE(token_cache_key(docs, "sentencepiece", tokenizer->to_bytes()), key);
  // Document boundaries are part of the key ("ab" + "c" is not "a" + "bc").
  EXPECT_NE(token_cache_key({"ab", "c"}, "k", ""), token_cache_key({"a", "bc"}, "k", ""));
}

TEST(TokenCache, ADamagedOrUnwritableCacheOnlyCostsTime) {
  test::TempDir dir;
  const auto tokenizer = load_tokenizer(test::stories_tokenizer());
  test::write_text(dir.file("t.txt"), joined(stories(12), 0, 12));
  const TrainOptions o = options();
  const std::string cache = dir.file("cache");
  const TrainData first = load_train_data({dir.file("t.txt")}, "", *tokenizer, o, 512, cache);
  const std::string file = first.token_cache.substr(6);
  // Cut short, then a header that claims more tokens than the file has: both ignored and rewritten.
  const auto size = fs::file_size(file);
  fs::resize_file(file, size - 3);
  const TrainData cut = load_train_data({dir.file("t.txt")}, "", *tokenizer, o, 512, cache);
  EXPECT_EQ(cut.token_cache, "wrote " + file);
  EXPECT_EQ(cut.stream, first.stream);
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(24);
    const uint64_t huge = uint64_t(1) << 60;
    f.write(reinterpret_cast<const char*>(&huge), sizeof huge);
  }
  const TrainData lying = load_train_data({dir.file("t.txt")}, "", *tokenizer, o, 512, cache);
  EXPECT_EQ(lying.token_cache, "wrote " + file);
  EXPECT_EQ(lying.stream, first.stream);
  // A cache folder that cannot be made (a file stands in its place): a note, the same data.
  test::write_text(dir.file("blocked"), "");
  const TrainData blocked = load_train_data({dir.file("t.txt")}, "", *tokenizer, o, 512, dir.file("blocked/cache"));
  EXPECT_TRUE(contains(blocked.token_cache, "token cache not written")) << blocked.token_cache;
  EXPECT_EQ(blocked.stream, first.stream);
}

TEST(TokenCache, FolderFromConfigAndEnvironment) {
  {
    test::ScopedEnv cache("SEEDFORGE_CACHE", "/tmp/sf-cache");
    EXPECT_EQ(resolve_token_cache_dir(""), "/tmp/sf-cache");
    EXPECT_EQ(resolve_token_cache_dir("mine"), "mine");
    EXPECT_EQ(resolve_token_cache_dir("none"), "");
  }
  test::ScopedEnv cache("SEEDFORGE_CACHE", nullptr);
  test::ScopedEnv xdg("XDG_CACHE_HOME", "/tmp/xdg");
  EXPECT_EQ(resolve_token_cache_dir(""), "/tmp/xdg/seedforge");
  test::ScopedEnv no_xdg("XDG_CACHE_HOME", nullptr);
  test::ScopedEnv home("HOME", "/home/u");
  EXPECT_EQ(resolve_token_cache_dir(""), "/home/u/.cache/seedforge");
}
