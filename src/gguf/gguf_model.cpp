// GGUF -> engine model (what is rebuilt and how: gguf_model.h).
#include "gguf/gguf_model.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>

#include "common/error.h"
#include "gguf/gguf_file.h"
#include "infer/kernels.h"
#include "infer/model.h"

namespace seedforge::gguf {

namespace {

using infer::Model;

// Seedforge row of GGUF row r of attn_q / attn_k (gguf_export.h).
int64_t rope_source_row(int64_t r, int64_t head_dim) {
  const int64_t h = r / head_dim, w = r % head_dim, half = head_dim / 2;
  return h * head_dim + (w % 2) * half + w / 2;
}

class Reader {
 public:
  explicit Reader(const File& f) : f_(f) {}

  const TensorInfo& tensor(const std::string& name, std::vector<int64_t> ne) {
    const TensorInfo* t = f_.find_tensor(name);
    if (t == nullptr) throw input_error("'", f_.path(), "': tensor '", name, "' is missing");
    if (t->ne != ne) {
      std::string got, want;
      for (size_t i = 0; i < t->ne.size(); ++i) got += (i ? " x " : "") + std::to_string(t->ne[i]);
      for (size_t i = 0; i < ne.size(); ++i) want += (i ? " x " : "") + std::to_string(ne[i]);
      throw input_error("'", f_.path(), "': tensor '", name, "' has shape [", got, "], expected [", want, "]");
    }
    used_.insert(name);
    infer::TensorInfo info;
    info.name = name;
    info.codec = ggml_type_name(static_cast<uint32_t>(t->type));
    info.shape.assign(ne.rbegin(), ne.rend());
    info.params = t->values();
    info.stored_bytes = static_cast<int64_t>(t->bytes);
    infos_.push_back(info);
    return *t;
  }

  std::vector<float> floats(const TensorInfo& t) {
    std::vector<float> out(static_cast<size_t>(t.values()));
    try {
      dequantize(t.type, f_.tensor_data(t), t.values(), out.data());
    } catch (const Error& e) {
      throw input_error("'", f_.path(), "': tensor '", t.name, "': ", e.what());
    }
    for (float v : out) {
      if (!std::isfinite(v)) throw input_error("'", f_.path(), "': tensor '", t.name, "' holds NaN or Inf");
    }
    return out;
  }

  std::vector<float> vector(const std::string& name, int64_t n) { return floats(tensor(name, {n})); }

  // rows x cols projection; rope: GGUF rows in llama.cpp's pair order.
  infer::Projection projection(const std::string& base, int64_t rows, int64_t cols, bool rope, int64_t head_dim,
                               int64_t scale_group, bool with_bias) {
    const TensorInfo& t = tensor(base + ".weight", {cols, rows});
    std::vector<int64_t> order(static_cast<size_t>(rows));  // seedforge row -> GGUF row
    for (int64_t r = 0; r < rows; ++r) order[static_cast<size_t>(rope ? rope_source_row(r, head_dim) : r)] = r;
    infer::Projection p;
    if (t.type == GgmlType::kTQ1_0 || t.type == GgmlType::kTQ2_0) {
      p.ternary = true;
      p.t = ternary_blocks(t, rows, cols, order);
    } else {
      const std::vector<float> v = floats(t);
      std::vector<float> w(v.size());
      for (int64_t r = 0; r < rows; ++r) {
        std::memcpy(w.data() + r * cols, v.data() + order[static_cast<size_t>(r)] * cols, static_cast<size_t>(cols) * 4);
      }
      if (t.type != GgmlType::kQ8_0 && as_trits(w, rows, cols, scale_group, &p.t)) {
        p.ternary = true;
      } else {
        p.d.rows = rows;
        p.d.cols = cols;
        p.d.w = std::move(w);
      }
    }
    if (with_bias) {
      const std::vector<float> b = vector(base + ".bias", rows);
      p.bias.resize(b.size());
      for (int64_t r = 0; r < rows; ++r) p.bias[static_cast<size_t>(r)] = b[static_cast<size_t>(order[static_cast<size_t>(r)])];
    }
    return p;
  }

  const std::set<std::string>& used() const { return used_; }
  std::vector<infer::TensorInfo> infos_;

 private:
  infer::TernaryMatrix ternary_blocks(const TensorInfo& t, int64_t rows, int64_t cols, const std::vector<int64_t>& order) {
    const int64_t n = rows * cols, blocks = cols / 256;
    std::vector<int8_t> trits(static_cast<size_t>(n)), sorted(static_cast<size_t>(n));
    std::vector<uint16_t> scales(static_cast<size_t>(n / 256));
    try {
      if (t.type == GgmlType::kTQ1_0) unpack_tq1_0(f_.tensor_data(t), n, trits.data(), scales.data());
      else unpack_tq2_0(f_.tensor_data(t), n, trits.data(), scales.data());
    } catch (const Error& e) {
      throw input_error("'", f_.path(), "': tensor '", t.name, "': ", e.what());
    }
    bool per_row = true;
    std::vector<uint16_t> row_scales(static_cast<size_t>(rows)), block_scales(static_cast<size_t>(rows * blocks));
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t g = order[static_cast<size_t>(r)];
      std::memcpy(sorted.data() + r * cols, trits.data() + g * cols, static_cast<size_t>(cols));
      for (int64_t b = 0; b < blocks; ++b) {
        const uint16_t s = scales[static_cast<size_t>(g * blocks + b)];
        if (!std::isfinite(infer::fp16_to_float(s))) throw input_error("'", f_.path(), "': tensor '", t.name, "' has a NaN or Inf scale");
        block_scales[static_cast<size_t>(r * blocks + b)] = s;
        if (s != scales[static_cast<size_t>(g * blocks)]) per_row = false;
      }
      row_scales[static_cast<size_t>(r)] = scales[static_cast<size_t>(g * blocks)];
    }
    if (per_row) return infer::pack_ternary(sorted.data(), rows, cols, 0, row_scales.data(), rows, true);
    return infer::pack_ternary(sorted.data(), rows, cols, 256, block_scales.data(), rows * blocks, true);
  }

  // Trits x one fp16 magnitude per run of `group` columns (a row when 0), or false.
  static bool as_trits(const std::vector<float>& w, int64_t rows, int64_t cols, int64_t group, infer::TernaryMatrix* out) {
    const int64_t run = group > 0 && group < cols ? group : cols;
    const int64_t runs = cols > 0 ? (cols + run - 1) / run : 1;
    std::vector<int8_t> trits(w.size());
    std::vector<uint16_t> scales(static_cast<size_t>(rows * runs));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t g = 0; g < runs; ++g) {
        float s = 0.0f;
        for (int64_t c = g * run; c < std::min(cols, (g + 1) * run); ++c) {
          const float v = w[static_cast<size_t>(r * cols + c)];
          if (v == 0.0f) {
            trits[static_cast<size_t>(r * cols + c)] = 0;
            continue;
          }
          if (s == 0.0f) s = std::fabs(v);
          if (std::fabs(v) != s) return false;
          trits[static_cast<size_t>(r * cols + c)] = v > 0 ? 1 : -1;
        }
        const uint16_t h = infer::float_to_fp16(s);
        if (infer::fp16_to_float(h) != s) return false;
        scales[static_cast<size_t>(r * runs + g)] = h;
      }
    }
    *out = infer::pack_ternary(trits.data(), rows, cols, runs > 1 ? run : 0, scales.data(), rows * runs, true);
    return true;
  }

  const File& f_;
  std::set<std::string> used_;
};

}  // namespace

bool is_gguf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

std::shared_ptr<const infer::Model> load_gguf_model(const std::string& path) {
  const File f(path);
  const std::string& arch = f.string("general.architecture");
  if (arch != "llama") throw input_error("'", path, "': architecture '", arch, "'; seedforge reads llama GGUF files");
  if (f.find("seedforge.tokenizer") == nullptr) {
    throw input_error("'", path, "': no seedforge.tokenizer key: seedforge reads the GGUF files it wrote (stage1 export), "
                      "whose tokenizer it embeds");
  }
  auto model = std::make_shared<Model>();
  Model& m = *model;
  m.path = path;
  ModelConfig& c = m.config;
  c.architecture = "llama";
  c.dim = f.integer("llama.embedding_length");
  c.hidden_dim = f.integer("llama.feed_forward_length");
  c.n_layers = f.integer("llama.block_count");
  c.n_heads = f.integer("llama.attention.head_count");
  c.n_kv_heads = f.find("llama.attention.head_count_kv") != nullptr ? f.integer("llama.attention.head_count_kv") : c.n_heads;
  c.max_seq_len = f.integer("llama.context_length");
  c.rope_theta = f.find("llama.rope.freq_base") != nullptr ? f.real("llama.rope.freq_base") : 10000.0;
  c.norm_eps = f.real("llama.attention.layer_norm_rms_epsilon");
  c.vocab_size = static_cast<int64_t>(f.array("tokenizer.ggml.tokens").array.size());
  c.bos_id = f.find("tokenizer.ggml.bos_token_id") != nullptr ? f.integer("tokenizer.ggml.bos_token_id") : -1;
  c.eos_id = f.find("tokenizer.ggml.eos_token_id") != nullptr ? f.integer("tokenizer.ggml.eos_token_id") : -1;
  c.tie_embeddings = f.find_tensor("output.weight") == nullptr;
  c.attention_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.validate(path);
  if (f.find("llama.rope.dimension_count") != nullptr && f.integer("llama.rope.dimension_count") != c.head_dim()) {
    throw input_error("'", path, "': llama.rope.dimension_count ", f.integer("llama.rope.dimension_count"),
                      " is not the head dimension ", c.head_dim(), " (partial RoPE is not supported)");
  }
  m.format_version = f.integer("seedforge.format_version");
  m.activations.bits = static_cast<int>(f.integer("seedforge.activation_bits"));
  if (m.activations.bits != 0 && (m.activations.bits < 2 || m.activations.bits > 16)) {
    throw input_error("'", path, "': seedforge.activation_bits must be 0 or in [2, 16], got ", m.activations.bits);
  }
  const int64_t group = f.find("seedforge.scale_group") != nullptr ? f.integer("seedforge.scale_group") : 0;
  m.tokenizer_kind = f.string("seedforge.tokenizer_kind");
  const Value& tokenizer = f.array("seedforge.tokenizer");
  if (tokenizer.element_type != ValueType::kU8) throw input_error("'", path, "': seedforge.tokenizer must be an array of u8");
  m.tokenizer_bytes = tokenizer.string;

  Reader r(f);
  const int64_t C = c.dim, F = c.hidden_dim, D = c.head_dim(), V = c.vocab_size, q = c.n_heads * D, kv = c.n_kv_heads * D;
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    infer::Layer l;
    l.attn_norm = r.vector(b + "attn_norm.weight", C);
    l.ffn_norm = r.vector(b + "ffn_norm.weight", C);
    l.q = r.projection(b + "attn_q", q, C, true, D, group, c.attention_bias);
    l.k = r.projection(b + "attn_k", kv, C, true, D, group, c.attention_bias);
    l.v = r.projection(b + "attn_v", kv, C, false, D, group, c.attention_bias);
    l.o = r.projection(b + "attn_output", C, q, false, D, group, false);
    l.gate = r.projection(b + "ffn_gate", F, C, false, D, group, false);
    l.up = r.projection(b + "ffn_up", F, C, false, D, group, false);
    l.down = r.projection(b + "ffn_down", C, F, false, D, group, false);
    m.layers.push_back(std::move(l));
  }
  m.final_norm = r.vector("output_norm.weight", C);
  auto dense = [&](const std::string& name) {
    infer::DenseMatrix d;
    d.rows = V;
    d.cols = C;
    d.w = r.floats(r.tensor(name, {C, V}));
    return d;
  };
  if (c.tie_embeddings) {
    m.head = dense("token_embd.weight");
  } else {
    m.embedding = dense("token_embd.weight");
    m.head = dense("output.weight");
  }
  for (const TensorInfo& t : f.contents().tensors) {
    if (!r.used().count(t.name)) throw input_error("'", path, "': unexpected tensor '", t.name, "' for a llama model of this config");
  }
  m.tensors = r.infos_;
  m.make_tokenizer();  // checks the tokenizer against the vocabulary
  return model;
}

}  // namespace seedforge::gguf
