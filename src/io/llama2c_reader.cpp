// llama2.c model files: see llama2c_reader.h for the byte layout.
#include "io/llama2c_reader.h"

#include <cstring>
#include <fstream>

#include "common/error.h"
#include "common/file_util.h"

namespace seedforge {

namespace {

constexpr int64_t kHeaderBytes = 7 * 4;

struct Llama2cHeader {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

// Number of float32 values the header implies, or -1 when the header is not sane.
int64_t expected_floats(const Llama2cHeader& h) {
  if (h.dim <= 0 || h.hidden_dim <= 0 || h.n_layers <= 0 || h.n_heads <= 0 || h.n_kv_heads <= 0 || h.seq_len <= 0 ||
      h.vocab_size == 0 || h.dim % h.n_heads != 0 || h.n_heads % h.n_kv_heads != 0) {
    return -1;
  }
  // Guard against absurd headers before multiplying (a 2^31 field times 2^31 overflows).
  if (h.dim > (1 << 16) || h.hidden_dim > (1 << 18) || h.n_layers > 1024 || h.seq_len > (1 << 20) ||
      std::abs(int64_t(h.vocab_size)) > (1 << 22)) {
    return -1;
  }
  const int64_t dim = h.dim, hidden = h.hidden_dim, layers = h.n_layers, head = dim / h.n_heads;
  const int64_t kv = int64_t(h.n_kv_heads) * head, vocab = std::abs(int64_t(h.vocab_size));
  int64_t n = vocab * dim;                         // token embeddings
  n += layers * dim;                               // rms_att
  n += layers * dim * dim + 2 * layers * kv * dim;  // wq, wk, wv
  n += layers * dim * dim;                         // wo
  n += layers * dim;                               // rms_ffn
  n += 3 * layers * hidden * dim;                  // w1, w2, w3
  n += dim;                                        // rms_final
  n += int64_t(h.seq_len) * head;                  // freq_cis real + imag (seq_len * head/2 each)
  if (h.vocab_size < 0) n += vocab * dim;          // wcls
  return n;
}

bool read_header(const std::string& path, Llama2cHeader& header, uint64_t& size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  in.seekg(0, std::ios::end);
  size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  return size >= kHeaderBytes && in.read(reinterpret_cast<char*>(&header), kHeaderBytes).good();
}

// Interleaved-pair rows (2i, 2i+1) of each head -> half-split rows (i, i + D/2).
// w: [heads*D, in]. This is HF's convert_llama_weights_to_hf permute.
torch::Tensor interleaved_to_half_split(const torch::Tensor& w, int64_t heads) {
  const int64_t rows = w.size(0), cols = w.size(1), d = rows / heads;
  return w.view({heads, d / 2, 2, cols}).transpose(1, 2).reshape({rows, cols}).contiguous();
}

torch::Tensor half_split_to_interleaved(const torch::Tensor& w, int64_t heads) {
  const int64_t rows = w.size(0), cols = w.size(1), d = rows / heads;
  return w.view({heads, 2, d / 2, cols}).transpose(1, 2).reshape({rows, cols}).contiguous();
}

}  // namespace

bool looks_like_llama2c(const std::string& path) {
  Llama2cHeader h{};
  uint64_t size = 0;
  if (!read_header(path, h, size)) return false;
  const int64_t n = expected_floats(h);
  return n > 0 && size == uint64_t(kHeaderBytes + 4 * n);
}

ModelConfig read_llama2c_config(const std::string& path) {
  Llama2cHeader h{};
  uint64_t size = 0;
  if (!read_header(path, h, size)) {
    if (!std::ifstream(path)) throw input_error("cannot open '", path, "'");
    throw input_error("'", path, "': too short for a llama2.c header (", size, " bytes, need 28)");
  }
  const int64_t n = expected_floats(h);
  if (n < 0) {
    throw input_error("'", path, "': not a llama2.c model: implausible header (dim ", h.dim, ", hidden ", h.hidden_dim,
                      ", layers ", h.n_layers, ", heads ", h.n_heads, ", kv heads ", h.n_kv_heads, ", vocab ",
                      h.vocab_size, ", seq_len ", h.seq_len, ")");
  }
  const uint64_t expected = kHeaderBytes + 4 * uint64_t(n);
  if (size != expected) {
    throw input_error("'", path, "': llama2.c header (dim ", h.dim, ", hidden ", h.hidden_dim, ", layers ", h.n_layers,
                      ", vocab ", h.vocab_size, ", seq_len ", h.seq_len, ") implies ", expected, " bytes, file has ", size,
                      size < expected ? " (truncated?)" : " (trailing data?)");
  }

  ModelConfig c;
  c.architecture = "llama";
  c.dim = h.dim;
  c.hidden_dim = h.hidden_dim;
  c.n_layers = h.n_layers;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.vocab_size = std::abs(h.vocab_size);
  c.max_seq_len = h.seq_len;
  c.tie_embeddings = h.vocab_size > 0;
  c.validate(path);
  return c;
}

Checkpoint load_llama2c(const std::string& path) {
  const ModelConfig c = read_llama2c_config(path);
  const int64_t n = (int64_t(file_size_bytes(path)) - kHeaderBytes) / 4;  // checked against the header above

  const std::vector<uint8_t> bytes = read_file_bytes(path);
  auto all = torch::from_blob(const_cast<uint8_t*>(bytes.data()) + kHeaderBytes, {n}, torch::kFloat32).clone();
  int64_t offset = 0;
  auto take = [&](std::vector<int64_t> shape) {
    int64_t count = 1;
    for (int64_t s : shape) count *= s;
    auto t = all.narrow(0, offset, count).view(shape);
    offset += count;
    return t;
  };
  const int64_t L = c.n_layers, C = c.dim, D = c.head_dim(), F = c.hidden_dim;
  const int64_t q_rows = c.n_heads * D, kv_rows = c.n_kv_heads * D;
  auto embed = take({c.vocab_size, C});
  auto rms_att = take({L, C});
  auto wq = take({L, q_rows, C});
  auto wk = take({L, kv_rows, C});
  auto wv = take({L, kv_rows, C});
  auto wo = take({L, C, q_rows});
  auto rms_ffn = take({L, C});
  auto w1 = take({L, F, C});
  auto w2 = take({L, C, F});
  auto w3 = take({L, F, C});
  auto rms_final = take({C});
  take({c.max_seq_len * D});  // freq_cis_real and freq_cis_imag: recomputed from rope_theta
  torch::Tensor wcls;
  if (!c.tie_embeddings) wcls = take({c.vocab_size, C});

  Checkpoint ck;
  ck.config = c;
  ck.format = "llama2c";
  ck.path = path;
  auto& t = ck.tensors;
  t.emplace_back("model.embed_tokens.weight", embed.contiguous());
  for (int64_t i = 0; i < L; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    t.emplace_back(p + "self_attn.q_proj.weight", interleaved_to_half_split(wq[i], c.n_heads));
    t.emplace_back(p + "self_attn.k_proj.weight", interleaved_to_half_split(wk[i], c.n_kv_heads));
    t.emplace_back(p + "self_attn.v_proj.weight", wv[i].contiguous());
    t.emplace_back(p + "self_attn.o_proj.weight", wo[i].contiguous());
    t.emplace_back(p + "mlp.gate_proj.weight", w1[i].contiguous());
    t.emplace_back(p + "mlp.up_proj.weight", w3[i].contiguous());
    t.emplace_back(p + "mlp.down_proj.weight", w2[i].contiguous());
    t.emplace_back(p + "input_layernorm.weight", rms_att[i].contiguous());
    t.emplace_back(p + "post_attention_layernorm.weight", rms_ffn[i].contiguous());
  }
  t.emplace_back("model.norm.weight", rms_final.contiguous());
  if (!c.tie_embeddings) t.emplace_back("lm_head.weight", wcls.contiguous());
  for (const auto& [name, value] : t) {
    if (!torch::isfinite(value).all().item<bool>()) throw input_error("'", path, "': tensor '", name, "' has NaN or Inf values");
  }
  return ck;
}

void save_llama2c(const ModelConfig& c, const StateDict& tensors, const std::string& path) {
  if (c.attention_bias) throw usage_error("llama2.c files cannot hold attention biases (", path, ")");
  auto get = [&](const std::string& name) -> torch::Tensor {
    for (const auto& [n, v] : tensors) {
      if (n == name) return v.to(torch::kFloat32).contiguous();
    }
    throw input_error("save_llama2c: tensor '", name, "' missing");
  };
  std::vector<torch::Tensor> parts;
  auto per_layer = [&](const std::string& suffix, int kind) {
    for (int64_t i = 0; i < c.n_layers; ++i) {
      auto w = get("model.layers." + std::to_string(i) + "." + suffix);
      if (kind == 1) w = half_split_to_interleaved(w, c.n_heads);
      if (kind == 2) w = half_split_to_interleaved(w, c.n_kv_heads);
      parts.push_back(w.flatten());
    }
  };
  parts.push_back(get("model.embed_tokens.weight").flatten());
  per_layer("input_layernorm.weight", 0);
  per_layer("self_attn.q_proj.weight", 1);
  per_layer("self_attn.k_proj.weight", 2);
  per_layer("self_attn.v_proj.weight", 0);
  per_layer("self_attn.o_proj.weight", 0);
  per_layer("post_attention_layernorm.weight", 0);
  per_layer("mlp.gate_proj.weight", 0);
  per_layer("mlp.down_proj.weight", 0);
  per_layer("mlp.up_proj.weight", 0);
  parts.push_back(get("model.norm.weight").flatten());
  // Legacy freq_cis tables (interleaved RoPE, theta from the config), which run.c skips.
  const int64_t D = c.head_dim();
  auto inv = torch::pow(c.rope_theta, -torch::arange(0, D, 2, torch::kFloat64) / double(D));
  auto freqs = torch::outer(torch::arange(c.max_seq_len, torch::kFloat64), inv);
  parts.push_back(freqs.cos().to(torch::kFloat32).flatten());
  parts.push_back(freqs.sin().to(torch::kFloat32).flatten());
  if (!c.tie_embeddings) parts.push_back(get("lm_head.weight").flatten());
  auto all = torch::cat(parts).contiguous();

  const int32_t header[7] = {int32_t(c.dim), int32_t(c.hidden_dim), int32_t(c.n_layers), int32_t(c.n_heads),
                             int32_t(c.n_kv_heads), int32_t(c.tie_embeddings ? c.vocab_size : -c.vocab_size),
                             int32_t(c.max_seq_len)};
  std::vector<uint8_t> bytes(kHeaderBytes + all.numel() * 4);
  std::memcpy(bytes.data(), header, kHeaderBytes);
  std::memcpy(bytes.data() + kHeaderBytes, all.data_ptr<float>(), all.numel() * 4);
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace seedforge
