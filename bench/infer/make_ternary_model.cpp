// make_ternary_model: writes a .stage1.pt of random weights with real
// dimensions, for measuring the inference engine where memory bandwidth
// decides (bench/infer/run_bench.sh; the file is made there, never committed).
// Defaults: TinyLlama-1.1B's shape (dim 2048, hidden 5632, 22 layers, 32
// heads, 4 key/value heads, vocabulary 32,000, untied head), stored as Stage 1
// stores stories260K with the shipped configuration: ternary projections
// (uniform random trits) with one fp16 scale per row and 32 columns, SeedLM
// embedding and head (random valid blocks: seeds 1..2^16-1, exponents -2..1,
// coefficients -8..7), fp16 norm weights near 1, 8-bit activations, the
// Llama 2 SentencePiece tokenizer (32,000 tokens) embedded. --attn-levels L
// and --mlp-levels L (L > 1) store the attention or MLP projections as
// "levels" entries with uniform random values in -L..L instead (make demo's
// file has 2 and 3: 5 and 7 levels).
//
//   make_ternary_model --output tinyllama-shape.stage1.pt [--dim N --hidden N --layers N --heads N
//                      --kv-heads N --vocab N --max-seq N --tokenizer FILE --seed S
//                      --attn-levels L --mlp-levels L]
#include <CLI/CLI.hpp>

#include <iostream>

#include "codec/packed_levels.h"
#include "codec/seedlm_codec.h"
#include "codec/ternary.h"
#include "common/data_paths.h"
#include "common/error.h"
#include "pipeline/stage1_file.h"
#include "tokenizer/tokenizer.h"

using namespace seedforge;

namespace {

// xorshift64*: fast, and the same file for the same seed on every machine.
struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ULL;
  }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
};

torch::Tensor bytes_tensor(const std::vector<uint8_t>& v) {
  auto t = torch::empty({static_cast<int64_t>(v.size())}, torch::kUInt8);
  if (!v.empty()) std::memcpy(t.data_ptr<uint8_t>(), v.data(), v.size());
  return t;
}

// A projection of uniform random values in -L..L: "ternary" for L = 1, else "levels".
Stage1Tensor ternary(const std::string& name, int64_t rows, int64_t cols, int L, Rng& rng) {
  std::vector<int8_t> trits(static_cast<size_t>(rows * cols));
  for (auto& t : trits) t = static_cast<int8_t>(int(rng.next() % uint64_t(2 * L + 1)) - L);
  Stage1Tensor out;
  out.name = name;
  out.codec = L == 1 ? "ternary" : "levels";
  out.max_level = L == 1 ? 0 : L;
  out.shape = {rows, cols};
  out.scale_group = 32;
  const int64_t runs = (cols + 31) / 32;
  auto scale = torch::empty({rows * runs}, torch::kFloat32);
  float* s = scale.data_ptr<float>();
  for (int64_t i = 0; i < rows * runs; ++i) s[i] = static_cast<float>(0.01 + 0.03 * rng.uniform());
  out.scale = scale.to(torch::kFloat16);
  out.payload = bytes_tensor(L == 1 ? pack_trits_base3(trits.data(), static_cast<int64_t>(trits.size()))
                                    : pack_levels(trits.data(), static_cast<int64_t>(trits.size()), L));
  return out;
}

Stage1Tensor seedlm(const std::string& name, int64_t rows, int64_t cols, const SeedLMParams& params, Rng& rng) {
  const int64_t blocks = seedlm_block_count(rows * cols, params);
  std::vector<SeedLMBlockCode> codes(static_cast<size_t>(blocks));
  for (auto& c : codes) {
    c.seed = 1 + static_cast<uint32_t>(rng.next() % ((1u << params.K) - 1));
    c.exponent = static_cast<int>(rng.next() % 4) - 2;
    for (int i = 0; i < params.P; ++i) c.q[i] = static_cast<int8_t>(int(rng.next() % 16) - 8);
  }
  Stage1Tensor out;
  out.name = name;
  out.codec = "seedlm";
  out.shape = {rows, cols};
  out.scale = torch::full({1}, 1e-3f, torch::kFloat32);
  out.payload = bytes_tensor(seedlm_pack_blocks(codes.data(), blocks, params));
  return out;
}

Stage1Tensor norm(const std::string& name, int64_t n, Rng& rng) {
  auto t = torch::empty({n}, torch::kFloat32);
  float* p = t.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(0.9 + 0.2 * rng.uniform());
  Stage1Tensor out;
  out.name = name;
  out.codec = "raw";
  out.shape = {n};
  out.payload = t.to(torch::kFloat16);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write a .stage1.pt of random ternary weights with real dimensions (default: TinyLlama-1.1B's shape)"};
  std::string output, tokenizer_path;
  ModelConfig c;
  c.architecture = "llama";
  c.dim = 2048;
  c.hidden_dim = 5632;
  c.n_layers = 22;
  c.n_heads = 32;
  c.n_kv_heads = 4;
  c.vocab_size = 32000;
  c.max_seq_len = 2048;
  c.rope_theta = 10000.0;
  c.norm_eps = 1e-5;
  c.tie_embeddings = false;
  c.bos_id = 1;
  c.eos_id = 2;
  uint64_t seed = 1;
  int attn_levels = 1, mlp_levels = 1;
  app.add_option("--output", output, "The .stage1.pt to write")->required();
  app.add_option("--dim", c.dim);
  app.add_option("--hidden", c.hidden_dim);
  app.add_option("--layers", c.n_layers);
  app.add_option("--heads", c.n_heads);
  app.add_option("--kv-heads", c.n_kv_heads);
  app.add_option("--vocab", c.vocab_size);
  app.add_option("--max-seq", c.max_seq_len);
  app.add_option("--tokenizer", tokenizer_path, "Tokenizer to embed (default: the shared data's Llama 2 tokenizer.model)");
  app.add_option("--seed", seed);
  app.add_option("--attn-levels", attn_levels, "Max level of q, k, v, o (1: ternary)")->check(CLI::Range(1, kMaxPackedLevel));
  app.add_option("--mlp-levels", mlp_levels, "Max level of gate, up, down (1: ternary)")->check(CLI::Range(1, kMaxPackedLevel));
  CLI11_PARSE(app, argc, argv);
  try {
    c.validate("make_ternary_model");
    if (tokenizer_path.empty()) tokenizer_path = data_path("tokenizers/llama2/tokenizer.model");
    auto tokenizer = load_tokenizer(tokenizer_path);
    if (tokenizer->vocab_size() != c.vocab_size) {
      throw usage_error("tokenizer '", tokenizer_path, "' has ", tokenizer->vocab_size(), " tokens, --vocab is ", c.vocab_size);
    }
    Rng rng{seed * 0x9E3779B97F4A7C15ULL + 1};
    Stage1File f;
    f.config = c;
    f.tokenizer_kind = tokenizer->kind();
    f.tokenizer_bytes = tokenizer->to_bytes();
    f.bitnet.enabled = true;
    f.bitnet.activation_bits = 8;
    f.bitnet.per_row_scale = true;
    f.bitnet.scale_group = 32;
    const int64_t D = c.head_dim();
    f.tensors.push_back(seedlm("model.embed_tokens.weight", c.vocab_size, c.dim, f.seedlm, rng));
    for (int64_t i = 0; i < c.n_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      f.tensors.push_back(ternary(p + "self_attn.q_proj.weight", c.n_heads * D, c.dim, attn_levels, rng));
      f.tensors.push_back(ternary(p + "self_attn.k_proj.weight", c.n_kv_heads * D, c.dim, attn_levels, rng));
      f.tensors.push_back(ternary(p + "self_attn.v_proj.weight", c.n_kv_heads * D, c.dim, attn_levels, rng));
      f.tensors.push_back(ternary(p + "self_attn.o_proj.weight", c.dim, c.n_heads * D, attn_levels, rng));
      f.tensors.push_back(ternary(p + "mlp.gate_proj.weight", c.hidden_dim, c.dim, mlp_levels, rng));
      f.tensors.push_back(ternary(p + "mlp.up_proj.weight", c.hidden_dim, c.dim, mlp_levels, rng));
      f.tensors.push_back(ternary(p + "mlp.down_proj.weight", c.dim, c.hidden_dim, mlp_levels, rng));
      f.tensors.push_back(norm(p + "input_layernorm.weight", c.dim, rng));
      f.tensors.push_back(norm(p + "post_attention_layernorm.weight", c.dim, rng));
      std::cerr << "\rlayer " << i + 1 << "/" << c.n_layers << std::flush;
    }
    f.tensors.push_back(norm("model.norm.weight", c.dim, rng));
    f.tensors.push_back(seedlm("lm_head.weight", c.vocab_size, c.dim, f.seedlm, rng));
    f.training["seed"] = static_cast<int64_t>(seed);
    f.metrics_json = "{\"note\": \"random weights for benchmarks (bench/infer/make_ternary_model)\"}";
    std::cerr << "\nwriting " << output << "\n";
    write_stage1_file(output, f);
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return e.kind() == ErrorKind::kUsage ? 2 : 1;
  }
  return 0;
}
