// load_tokenizer(): kind detection by content, file name and folder contents;
// load_tokenizer_from_bytes(): every kind and the errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "common/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace seedforge {
namespace {

namespace fs = std::filesystem;

// A folder under the build tree holding symlinks to shared data files under new names.
std::string folder_with(const std::string& name, const std::vector<std::pair<std::string, std::string>>& links) {
  const std::string dir = test::scratch_dir("factory/" + name);
  for (const auto& entry : fs::directory_iterator(dir)) fs::remove(entry.path());
  for (const auto& [link, target] : links) fs::create_symlink(fs::absolute(target), dir + "/" + link);
  return dir;
}

std::string error_of(const std::function<void()>& load) {
  try {
    load();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(TokenizerFactory, DetectsFiles) {
  EXPECT_EQ(load_tokenizer(data_path("models/stories260K/tok512.bin"))->kind(), "llama2c");
  EXPECT_EQ(load_tokenizer(data_path("tokenizers/llama2/tokenizer.model"))->kind(), "sentencepiece");
  const auto gpt2 = load_tokenizer(data_path("tokenizers/gpt2/encoder.json"));  // vocab.bpe beside it
  EXPECT_EQ(gpt2->kind(), "bpe");
  EXPECT_EQ(gpt2->encode("Hello world"), (std::vector<int32_t>{15496, 995}));

  // tokenizer.json by content, whatever its name.
  const std::string dir = test::scratch_dir("factory/json");
  const std::string json_path = dir + "/my_tokenizer.json";
  const std::string text = test::gpt2_tokenizer_json(test::byte_level_pre_tokenizer(true), nullptr, nlohmann::json::array());
  write_file_atomic(json_path, text.data(), text.size());
  EXPECT_EQ(load_tokenizer(json_path)->encode("Hello world"), (std::vector<int32_t>{15496, 995}));
}

TEST(TokenizerFactory, DetectsFolders) {
  EXPECT_EQ(load_tokenizer(data_path("tokenizers/gpt2"))->kind(), "bpe");  // encoder.json + vocab.bpe
  EXPECT_EQ(load_tokenizer(data_path("tokenizers/llama2"))->kind(), "sentencepiece");
  const std::string hf = folder_with("hf", {{"vocab.json", data_path("tokenizers/gpt2/encoder.json")},
                                            {"merges.txt", data_path("tokenizers/gpt2/vocab.bpe")}});
  const auto t = load_tokenizer(hf);
  EXPECT_EQ(t->kind(), "bpe");
  EXPECT_EQ(t->encode("Hello world"), (std::vector<int32_t>{15496, 995}));
  EXPECT_EQ(load_tokenizer(hf + "/vocab.json")->vocab_size(), 50257);
  const std::string bin = folder_with("bin", {{"tokenizer.bin", data_path("models/stories260K/tok512.bin")}});
  EXPECT_EQ(load_tokenizer(bin)->kind(), "llama2c");
}

TEST(TokenizerFactory, FromBytesForEveryKind) {
  for (const std::string& path : {data_path("models/stories260K/tok512.bin"), data_path("tokenizers/llama2/tokenizer.model"),
                                 data_path("tokenizers/gpt2/encoder.json")}) {
    const auto original = load_tokenizer(path);
    const auto copy = load_tokenizer_from_bytes(original->kind(), original->to_bytes(), "copy of " + path);
    EXPECT_EQ(copy->kind(), original->kind());
    EXPECT_EQ(copy->vocab_size(), original->vocab_size());
    EXPECT_EQ(copy->bos_id(), original->bos_id());
    EXPECT_EQ(copy->eos_id(), original->eos_id());
    const std::string text = "Once upon a time, Lily's caf\xC3\xA9 sold 12 pies.";
    EXPECT_EQ(copy->encode(text), original->encode(text)) << path;
  }
}

TEST(TokenizerFactory, Errors) {
  const std::string missing = data_path("tokenizers/no_such_tokenizer.bin");
  EXPECT_NE(error_of([&] { load_tokenizer(missing); }).find(missing), std::string::npos);
  const std::string empty = folder_with("empty", {});
  const std::string message = error_of([&] { load_tokenizer(empty); });
  EXPECT_NE(message.find(empty), std::string::npos) << message;
  EXPECT_NE(message.find("tokenizer.json"), std::string::npos) << message;
  EXPECT_NE(error_of([] { load_tokenizer_from_bytes("wordpiece", "", "x.pt"); }).find("'wordpiece'"), std::string::npos);
  EXPECT_NE(error_of([] { load_tokenizer_from_bytes("bpe", "{\"a\": 1}", "x.pt"); }).find("x.pt"), std::string::npos);
  const std::string json_path = test::scratch_dir("factory/json") + "/not_a_tokenizer.json";
  write_file_atomic(json_path, "[1, 2]", 6);
  EXPECT_NE(error_of([&] { load_tokenizer(json_path); }).find(json_path), std::string::npos);
}

}  // namespace
}  // namespace seedforge
