// Reader for llama2.c model files (karpathy/llama2.c `run.c` layout, version 0).
//
// Layout, little-endian:
//   int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
//     (vocab_size < 0 means the classifier is stored separately: unshared)
//   float32 tensors, in this order (L = n_layers, D = dim / n_heads):
//     token_embedding_table [vocab, dim]
//     rms_att_weight        [L, dim]
//     wq [L, n_heads*D, dim]   wk [L, n_kv_heads*D, dim]   wv [L, n_kv_heads*D, dim]
//     wo [L, dim, n_heads*D]
//     rms_ffn_weight        [L, dim]
//     w1 [L, hidden, dim]  w2 [L, dim, hidden]  w3 [L, hidden, dim]
//     rms_final_weight      [dim]
//     freq_cis_real, freq_cis_imag [seq_len, D/2] each (legacy, skipped)
//     wcls [vocab, dim]     (only when vocab_size < 0)
// The file size must equal 28 + 4 * (sum of the above) exactly.
//
// q/k rows are stored for interleaved-pair RoPE; we convert them to HF's
// half-split RoPE by permuting each head's rows: row (2i + j) -> row (j*D/2 + i).
#pragma once

#include <string>

#include "io/checkpoint.h"

namespace seedforge {

// True when the first bytes look like a plausible llama2.c header and the
// file size matches it exactly.
bool looks_like_llama2c(const std::string& path);

Checkpoint load_llama2c(const std::string& path);

// The config alone, from the 28-byte header (and the file size it implies):
// no weight is read. Same errors as load_llama2c.
ModelConfig read_llama2c_config(const std::string& path);

// The inverse, for tests and `stage1 convert --output x.bin`: writes the
// llama2.c layout (q/k rows permuted back to interleaved pairs).
void save_llama2c(const ModelConfig& config, const StateDict& tensors, const std::string& path);

}  // namespace seedforge
