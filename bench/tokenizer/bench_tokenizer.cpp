// Encode speed of each tokenizer on the shared texts: llama2.c tok512 on the
// 800 valid.txt paragraphs (fast merge and the run.c-style reference loop),
// GPT-2 BPE on every line of wiki.test.raw (warm cache and fresh tokenizer),
// SentencePiece (Llama 2) on the same lines.
//
//   bench_tokenizer [--benchmark_format=json] [--benchmark_repetitions=5]
// Data folder: $SEEDFORGE_DATA, else the configured default.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace {

using namespace seedforge;

std::string data(const std::string& relative) {
  const char* env = std::getenv("SEEDFORGE_DATA");
  return std::string(env != nullptr && env[0] != '\0' ? env : SEEDFORGE_DEFAULT_DATA) + "/" + relative;
}

std::vector<std::string> split(const std::string& text, const std::string& separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string::npos) end = text.size();
    std::string part = text.substr(start, end - start);
    while (!part.empty() && part.back() == '\n') part.pop_back();
    if (!part.empty()) parts.push_back(part);
    start = end + separator.size();
  }
  return parts;
}

const std::vector<std::string>& paragraphs() {
  static const auto p = split(read_file_text(data("text/tinystories/valid.txt")), "\n\n");
  return p;
}
const std::vector<std::string>& wiki_lines() {
  static const auto p = split(read_file_text(data("text/wikitext-2/wiki.test.raw")), "\n");
  return p;
}

size_t total_bytes(const std::vector<std::string>& texts) {
  size_t n = 0;
  for (const auto& t : texts) n += t.size();
  return n;
}

template <typename Encode>
void run(benchmark::State& state, const std::vector<std::string>& texts, Encode encode) {
  size_t tokens = 0;
  for (auto _ : state) {
    tokens = 0;
    for (const std::string& text : texts) tokens += encode(text).size();
    benchmark::DoNotOptimize(tokens);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * total_bytes(texts)));
  state.counters["texts"] = static_cast<double>(texts.size());
  state.counters["tokens"] = static_cast<double>(tokens);
}

void BM_Llama2cValid(benchmark::State& state) {
  const auto t = load_tokenizer(data("models/stories260K/tok512.bin"));
  run(state, paragraphs(), [&](const std::string& s) { return t->encode(s); });
}
BENCHMARK(BM_Llama2cValid)->Unit(benchmark::kMillisecond);

void BM_Llama2cValidNaive(benchmark::State& state) {
  const auto t = load_tokenizer(data("models/stories260K/tok512.bin"));
  const auto& llama = dynamic_cast<const Llama2cTokenizer&>(*t);
  run(state, paragraphs(), [&](const std::string& s) { return llama.encode_naive(s); });
}
BENCHMARK(BM_Llama2cValidNaive)->Unit(benchmark::kMillisecond);

void BM_Gpt2WikiWarm(benchmark::State& state) {
  const auto t = load_tokenizer(data("tokenizers/gpt2/encoder.json"));
  for (const auto& line : wiki_lines()) t->encode(line);  // fill the piece cache
  run(state, wiki_lines(), [&](const std::string& s) { return t->encode(s); });
}
BENCHMARK(BM_Gpt2WikiWarm)->Unit(benchmark::kMillisecond);

// A fresh tokenizer each iteration (load time excluded): the cold-cache cost.
void BM_Gpt2WikiCold(benchmark::State& state) {
  size_t tokens = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto t = load_tokenizer(data("tokenizers/gpt2/encoder.json"));
    state.ResumeTiming();
    tokens = 0;
    for (const auto& line : wiki_lines()) tokens += t->encode(line).size();
    state.PauseTiming();
    t.reset();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * total_bytes(wiki_lines())));
  state.counters["tokens"] = static_cast<double>(tokens);
}
BENCHMARK(BM_Gpt2WikiCold)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_Gpt2Load(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(load_tokenizer(data("tokenizers/gpt2/encoder.json")));
}
BENCHMARK(BM_Gpt2Load)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_SentencePieceWiki(benchmark::State& state) {
  const auto t = load_tokenizer(data("tokenizers/llama2/tokenizer.model"));
  run(state, wiki_lines(), [&](const std::string& s) { return t->encode(s); });
}
BENCHMARK(BM_SentencePieceWiki)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
