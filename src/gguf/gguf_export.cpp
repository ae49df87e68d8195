// Engine model -> GGUF (what goes where: gguf_export.h).
#include "gguf/gguf_export.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <sstream>

#include "common/error.h"
#include "gguf/gguf_file.h"
#include "infer/kernels.h"
#include "infer/model.h"
#include "gguf/gguf_vocab.h"

namespace seedforge::gguf {

namespace {

using infer::DenseMatrix;
using infer::Model;
using infer::Projection;
using infer::TernaryMatrix;

constexpr int64_t kBlock = 256;

// llama.cpp's file types (llama_ftype) for general.file_type.
constexpr uint32_t kFileF16 = 1, kFileTq1 = 36, kFileTq2 = 37;

// A matrix as rows of floats, with the row a GGUF row comes from.
struct Rows {
  int64_t rows = 0, cols = 0;
  std::function<void(int64_t, float*)> row;  // source row -> cols floats
};

// Trit and scale of each column of a ternary matrix's row.
void ternary_row(const TernaryMatrix& m, int64_t r, int8_t* trits, float* scales) {
  for (int64_t c = 0; c < m.cols; ++c) {
    trits[c] = static_cast<int8_t>(m.value(r, c));
    scales[c] = m.scale(r, c);
  }
}

// Row order of attn_q / attn_k in the GGUF: half-split pairs to adjacent pairs.
int64_t rope_source_row(int64_t r, int64_t head_dim) {
  const int64_t h = r / head_dim, w = r % head_dim, half = head_dim / 2;
  return h * head_dim + (w % 2) * half + w / 2;
}

struct ErrorSum {
  double diff = 0.0, ref = 0.0;
  void add(float before, float after) {
    const double d = double(after) - double(before);
    diff += d * d;
    ref += double(before) * double(before);
  }
  double relative() const { return diff == 0.0 ? 0.0 : std::sqrt(diff / (ref > 0.0 ? ref : 1.0)); }
};

class Exporter {
 public:
  Exporter(const Model& m, const ExportOptions& o) : model_(m), options_(o) {}

  void vector(const std::string& name, const std::string& source, const std::vector<float>& v) {
    std::vector<uint8_t> bytes(v.size() * 4);
    if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
    add(name, source, {static_cast<int64_t>(v.size())}, GgmlType::kF32, std::move(bytes), 0.0, "");
  }

  // A float matrix (rows in GGUF order) to the float type.
  void dense(const std::string& name, const std::string& source, const Rows& m) {
    GgmlType type = options_.float_type;
    std::string note;
    if (type == GgmlType::kQ8_0 && m.cols % 32 != 0) {
      type = GgmlType::kF16;
      note = "row length " + std::to_string(m.cols) + " is not a multiple of Q8_0's 32";
    }
    std::vector<uint8_t> bytes(static_cast<size_t>(ggml_bytes(type, m.rows * m.cols)));
    const int64_t row_bytes = ggml_bytes(type, m.cols);
    std::vector<float> row(static_cast<size_t>(m.cols)), back(static_cast<size_t>(m.cols));
    ErrorSum err;
    for (int64_t r = 0; r < m.rows; ++r) {
      m.row(r, row.data());
      uint8_t* dst = bytes.data() + r * row_bytes;
      if (type == GgmlType::kF32) std::memcpy(dst, row.data(), static_cast<size_t>(row_bytes));
      else if (type == GgmlType::kF16) pack_f16(row.data(), m.cols, dst);
      else pack_q8_0(row.data(), m.cols, dst);
      dequantize(type, dst, m.cols, back.data());
      for (int64_t c = 0; c < m.cols; ++c) err.add(row[static_cast<size_t>(c)], back[static_cast<size_t>(c)]);
    }
    add(name, source, {m.cols, m.rows}, type, std::move(bytes), err.relative(), note);
  }

  void projection(const std::string& name, const std::string& source, const Projection& p, bool rope) {
    const int64_t D = model_.config.head_dim();
    auto source_row = [&](int64_t r) { return rope ? rope_source_row(r, D) : r; };
    if (!p.ternary) {
      const DenseMatrix& d = p.d;
      dense(name + ".weight", source + ".weight", Rows{d.rows, d.cols, [&](int64_t r, float* out) { d.row(source_row(r), out); }});
    } else if (p.t.max_level > 1) {  // levels: no GGUF type holds them; exported as float rows
      const TernaryMatrix& m = p.t;
      dense(name + ".weight", source + ".weight", Rows{m.rows, m.cols, [&](int64_t r, float* out) { m.row(source_row(r), out); }});
    } else {
      ternary(name + ".weight", source + ".weight", p.t, source_row);
    }
    if (!p.bias.empty()) {
      std::vector<float> b(p.bias.size());
      for (size_t r = 0; r < b.size(); ++r) b[r] = p.bias[static_cast<size_t>(source_row(static_cast<int64_t>(r)))];
      vector(name + ".bias", source + ".bias", b);
    }
  }

  void ternary(const std::string& name, const std::string& source, const TernaryMatrix& m,
               const std::function<int64_t(int64_t)>& source_row) {
    const int64_t rows = m.rows, cols = m.cols;
    GgmlType type = options_.ternary;
    std::string note;
    if (type != GgmlType::kF16) {
      if (cols % kBlock != 0) {
        note = "row length " + std::to_string(cols) + " is not a multiple of 256";
      } else if (m.groups > 1 && m.group_cols % kBlock != 0) {
        note = "scales for runs of " + std::to_string(m.group_cols) + " columns do not fill 256-value blocks";
      }
      if (!note.empty()) type = GgmlType::kF16;
    }
    std::vector<int8_t> trits(static_cast<size_t>(cols));
    std::vector<float> scales(static_cast<size_t>(cols));
    ErrorSum err;
    std::vector<uint8_t> bytes(static_cast<size_t>(ggml_bytes(type, rows * cols)));
    const int64_t row_bytes = ggml_bytes(type, cols);
    std::vector<uint16_t> block_scales(static_cast<size_t>(cols / kBlock));
    std::vector<float> values(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      ternary_row(m, source_row(r), trits.data(), scales.data());
      uint8_t* dst = bytes.data() + r * row_bytes;
      if (type == GgmlType::kF16) {
        for (int64_t c = 0; c < cols; ++c) values[static_cast<size_t>(c)] = trits[static_cast<size_t>(c)] * scales[static_cast<size_t>(c)];
        pack_f16(values.data(), cols, dst);
        for (int64_t c = 0; c < cols; ++c) {
          uint16_t h;
          std::memcpy(&h, dst + 2 * c, 2);
          err.add(values[static_cast<size_t>(c)], infer::fp16_to_float(h));
        }
        continue;
      }
      for (int64_t b = 0; b < cols / kBlock; ++b) {
        const float s = scales[static_cast<size_t>(b * kBlock)];
        block_scales[static_cast<size_t>(b)] = infer::float_to_fp16(s);
        const float s16 = infer::fp16_to_float(block_scales[static_cast<size_t>(b)]);
        for (int64_t c = b * kBlock; c < (b + 1) * kBlock; ++c) {
          const float v = trits[static_cast<size_t>(c)] * scales[static_cast<size_t>(c)];
          err.add(v, trits[static_cast<size_t>(c)] * s16);
        }
      }
      if (type == GgmlType::kTQ2_0) pack_tq2_0(trits.data(), block_scales.data(), cols, dst);
      else pack_tq1_0(trits.data(), block_scales.data(), cols, dst);
    }
    add(name, source, {cols, rows}, type, std::move(bytes), err.relative(), note);
  }

  ExportReport report;
  Writer writer;

 private:
  void add(const std::string& name, const std::string& source, std::vector<int64_t> ne, GgmlType type,
           std::vector<uint8_t> bytes, double relative_error, const std::string& note) {
    ExportedTensor t;
    t.name = name;
    t.source = source;
    t.type = type;
    t.ne = ne;
    t.bytes = static_cast<int64_t>(bytes.size());
    t.relative_error = relative_error;
    t.note = note;
    report.tensors.push_back(t);
    writer.add_tensor(name, std::move(ne), type, std::move(bytes));
  }

  const Model& model_;
  const ExportOptions& options_;
};

}  // namespace

int64_t ExportReport::changed() const {
  int64_t n = 0;
  for (const ExportedTensor& t : tensors) n += t.relative_error != 0.0 ? 1 : 0;
  return n;
}

GgmlType parse_ternary_type(const std::string& s) {
  if (s == "tq2_0") return GgmlType::kTQ2_0;
  if (s == "tq1_0") return GgmlType::kTQ1_0;
  if (s == "f16") return GgmlType::kF16;
  throw usage_error("--ternary must be tq2_0, tq1_0 or f16, got '", s, "'");
}

GgmlType parse_float_type(const std::string& s) {
  if (s == "f16") return GgmlType::kF16;
  if (s == "q8_0") return GgmlType::kQ8_0;
  if (s == "f32") return GgmlType::kF32;
  throw usage_error("--float-type must be f16, q8_0 or f32, got '", s, "'");
}

ExportReport export_gguf(const Model& m, const std::string& output, const ExportOptions& options) {
  const ModelConfig& c = m.config;
  if (m.activations.input_norm) {
    throw input_error("'", m.path, "': bitnet.input_norm is on (a parameter-free RMSNorm before every projection); llama.cpp's "
                      "llama graph has no such norm, so a GGUF of this model would compute something else");
  }
  if (options.ternary != GgmlType::kTQ2_0 && options.ternary != GgmlType::kTQ1_0 && options.ternary != GgmlType::kF16) {
    throw usage_error("GGUF export: the ternary type must be TQ2_0, TQ1_0 or F16");
  }
  if (options.float_type != GgmlType::kF16 && options.float_type != GgmlType::kQ8_0 && options.float_type != GgmlType::kF32) {
    throw usage_error("GGUF export: the float type must be F16, Q8_0 or F32");
  }
  Exporter e(m, options);
  Writer& w = e.writer;
  w.set("general.architecture", Value::str("llama"));
  if (!options.name.empty()) w.set("general.name", Value::str(options.name));
  w.set("general.alignment", Value::u32(Writer::kAlignment));
  w.set("llama.context_length", Value::u32(static_cast<uint32_t>(c.max_seq_len)));
  w.set("llama.embedding_length", Value::u32(static_cast<uint32_t>(c.dim)));
  w.set("llama.block_count", Value::u32(static_cast<uint32_t>(c.n_layers)));
  w.set("llama.feed_forward_length", Value::u32(static_cast<uint32_t>(c.hidden_dim)));
  w.set("llama.attention.head_count", Value::u32(static_cast<uint32_t>(c.n_heads)));
  w.set("llama.attention.head_count_kv", Value::u32(static_cast<uint32_t>(c.n_kv_heads)));
  w.set("llama.rope.freq_base", Value::f32(static_cast<float>(c.rope_theta)));
  w.set("llama.rope.dimension_count", Value::u32(static_cast<uint32_t>(c.head_dim())));
  w.set("llama.attention.layer_norm_rms_epsilon", Value::f32(static_cast<float>(c.norm_eps)));
  w.set("llama.vocab_size", Value::u32(static_cast<uint32_t>(c.vocab_size)));
  write_vocabulary(m, w);
  w.set("seedforge.format_version", Value::u32(1));
  w.set("seedforge.activation_bits", Value::u32(static_cast<uint32_t>(m.activations.bits)));
  w.set("seedforge.tokenizer_kind", Value::str(m.tokenizer_kind));
  w.set("seedforge.tokenizer", Value::u8s(m.tokenizer_bytes));
  {
    int64_t group = 0;  // the projections' scale run (0: per row or tensor), for reading F16 matrices back as ternary
    for (const infer::Layer& l : m.layers) {
      for (const Projection* p : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) {
        if (p->ternary && p->t.groups > 1) group = p->t.group_cols;
      }
    }
    w.set("seedforge.scale_group", Value::u32(static_cast<uint32_t>(group)));
  }

  const int64_t V = c.vocab_size, C = c.dim;
  if (c.tie_embeddings) {
    e.dense("token_embd.weight", "model.embed_tokens.weight", Rows{V, C, [&](int64_t r, float* out) { m.head.row(r, out); }});
  } else {
    e.dense("token_embd.weight", "model.embed_tokens.weight", Rows{V, C, [&](int64_t r, float* out) { m.embed(static_cast<int32_t>(r), out); }});
  }
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const infer::Layer& l = m.layers[i];
    const std::string b = "blk." + std::to_string(i) + ".", s = "model.layers." + std::to_string(i) + ".";
    e.vector(b + "attn_norm.weight", s + "input_layernorm.weight", l.attn_norm);
    e.projection(b + "attn_q", s + "self_attn.q_proj", l.q, true);
    e.projection(b + "attn_k", s + "self_attn.k_proj", l.k, true);
    e.projection(b + "attn_v", s + "self_attn.v_proj", l.v, false);
    e.projection(b + "attn_output", s + "self_attn.o_proj", l.o, false);
    e.vector(b + "ffn_norm.weight", s + "post_attention_layernorm.weight", l.ffn_norm);
    e.projection(b + "ffn_gate", s + "mlp.gate_proj", l.gate, false);
    e.projection(b + "ffn_up", s + "mlp.up_proj", l.up, false);
    e.projection(b + "ffn_down", s + "mlp.down_proj", l.down, false);
  }
  e.vector("output_norm.weight", "model.norm.weight", m.final_norm);
  if (!c.tie_embeddings) {
    e.dense("output.weight", "lm_head.weight", Rows{V, C, [&](int64_t r, float* out) { m.head.row(r, out); }});
  }

  // llama.cpp's file type names the projections' type: the ternary type when any went there.
  bool any_ternary = false;
  for (const ExportedTensor& t : e.report.tensors) any_ternary = any_ternary || t.type == options.ternary;
  w.set("general.file_type", Value::u32(!any_ternary || options.ternary == GgmlType::kF16 ? kFileF16
                                        : options.ternary == GgmlType::kTQ2_0            ? kFileTq2
                                                                                         : kFileTq1));
  if (options.strict && e.report.changed() > 0) {
    std::ostringstream why;
    for (const ExportedTensor& t : e.report.tensors) {
      if (t.relative_error != 0.0) why << "\n  " << t.name << " (" << t.source << "): relative error " << t.relative_error;
    }
    throw usage_error("GGUF export --strict: ", e.report.changed(), " tensor(s) would change value:", why.str());
  }
  e.report.file_bytes = w.write(output);
  return e.report;
}

std::string format_export_report(const ExportReport& r) {
  std::ostringstream out;
  int64_t ternary = 0;
  for (const ExportedTensor& t : r.tensors) {
    std::string shape;
    for (size_t i = 0; i < t.ne.size(); ++i) shape += (i ? " x " : "") + std::to_string(t.ne[i]);
    char line[512];
    std::snprintf(line, sizeof line, "%-28s %-6s [%s] %lld bytes", t.name.c_str(), ggml_type_name(static_cast<uint32_t>(t.type)).c_str(),
                  shape.c_str(), static_cast<long long>(t.bytes));
    out << line;
    if (t.relative_error != 0.0) out << "  changed: relative error " << t.relative_error;
    if (!t.note.empty()) out << "  (F16: " << t.note << ")";
    out << "\n";
    if (t.type == GgmlType::kTQ1_0 || t.type == GgmlType::kTQ2_0) ++ternary;
  }
  out << r.tensors.size() << " tensors (" << ternary << " ternary), " << r.changed() << " changed, " << r.file_bytes << " bytes\n";
  return out.str();
}

}  // namespace seedforge::gguf
