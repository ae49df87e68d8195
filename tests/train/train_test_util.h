// Small models for the train tests.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "eval/documents.h"
#include "io/model_loader.h"
#include "model/transformer.h"
#include "test_util.h"

namespace seedforge::test {

// dim 16, hidden 24, 2 layers, 4 heads, 2 KV heads, vocab 32, max_seq 32, random weights.
inline ModelConfig tiny_config() {
  ModelConfig c;
  c.dim = 16;
  c.hidden_dim = 24;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.vocab_size = 32;
  c.max_seq_len = 32;
  return c;
}

inline Transformer tiny_model(uint64_t seed) {
  torch::manual_seed(seed);
  Transformer model(tiny_config());
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) {
    if (p.dim() == 1) p.copy_(1.0 + 0.1 * torch::randn_like(p));
    else p.copy_(0.3 * torch::randn_like(p));
  }
  return model;
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// stories260K with its tokenizer and the first `docs` paragraphs of
// TinyStories train.txt, loaded once per process and count.
struct StoriesFixture {
  LoadedModel loaded;
  std::vector<std::string> docs;
};

inline const StoriesFixture& stories_fixture(size_t docs) {
  static std::map<size_t, StoriesFixture> loaded;
  auto it = loaded.find(docs);
  if (it == loaded.end()) {
    StoriesFixture f;
    f.loaded = load_model(stories_model(), stories_tokenizer());
    f.docs = read_documents(data_path("text/tinystories/train.txt"));
    f.docs.resize(docs);
    it = loaded.emplace(docs, std::move(f)).first;
  }
  return it->second;
}

}  // namespace seedforge::test
