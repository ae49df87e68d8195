// Training text sampled from the original model (data-free distillation, as in
// LLM-QAT, Liu et al. 2023): fine-tuning data beyond a small training file.
//
// Why: stories260K fine-tuned for 4,000 steps on train.txt (1,025 windows, 31
// epochs) keeps 94.3 % of the original's top-1 on train.txt but 87.9 % on
// valid.txt: the student memorizes the few training windows. Stories sampled
// from the original model are fresh text of the same distribution at no
// data cost, and with distillation the student learns the teacher's full
// next-token distribution on them.
//
// Each sample starts at BOS and ends at the first BOS or EOS the model samples
// (not included) or after max_len - 1 tokens; plain temperature sampling over
// the whole vocabulary with our own mt19937_64, so the draws are a function of
// the seed (and of the logits, which can differ in the last bits between
// thread counts or BLAS builds).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/transformer.h"
#include "tokenizer/tokenizer.h"
#include "train/train_data.h"
#include "train/train_options.h"

namespace seedforge {

struct SampleOptions {
  int64_t tokens = 0;       // stop once the documents hold this many tokens (each counted with its BOS)
  int64_t max_len = 256;    // positions per sample, BOS included
  double temperature = 1.0;
  int64_t batch = 64;       // at most this many sequences decoded together (KV cache)
  uint64_t seed = 1234;
  int32_t bos = 1, eos = 2;
};

// Documents (token ids without BOS) sampled from `model` (fp32, any device), no autograd.
std::vector<std::vector<int32_t>> sample_documents(Transformer& model, const SampleOptions& options);

// Appends documents to the training stream ([BOS] doc ...) and recounts the windows.
void append_documents(TrainData& data, const std::vector<std::vector<int32_t>>& documents, int32_t bos);

// options.synthetic_tokens tokens sampled from `original` at options.synthetic_temperature
// (seed options.seed, documents up to the model's max_seq_len), appended to `data`;
// nothing when synthetic_tokens is 0. `log` gets one line with the figures.
void add_synthetic_documents(TrainData& data, Transformer& original, const Tokenizer& tokenizer,
                             const TrainOptions& options, const std::function<void(const std::string&)>& log);

}  // namespace seedforge
