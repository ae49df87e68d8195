// GGUF (src/gguf): the ternary block codecs against hand-worked bytes and in
// round trips, F16/Q8_0 within their rounding, the container written and read
// back field by field, corrupt images refused with the file and field named,
// and the exporter's layout (names, shapes, types, RoPE row order, exact trits
// and scales, F16 fallback named) on a model built in memory. llama.cpp's own
// reading of these files is tested in test_gguf_llama_cpp.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/error.h"
#include "gguf/gguf_blocks.h"
#include "gguf/gguf_export.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_model.h"
#include "infer/kernels.h"
#include "infer/model.h"
#include "infer/session.h"
#include "test_util.h"
#include "tokenizer/bpe_tokenizer.h"

using namespace seedforge;
using namespace seedforge::gguf;

namespace {

std::vector<int8_t> random_trits(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int8_t> t(static_cast<size_t>(n));
  for (auto& v : t) v = static_cast<int8_t>(int(rng() % 3) - 1);
  return t;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Expects parse() of `bytes` to throw input_error whose message holds `needle`.
void expect_refused(const std::string& bytes, const std::string& needle) {
  try {
    parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "bad.gguf");
    FAIL() << "accepted; expected an error with '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    const std::string what = e.what();
    EXPECT_NE(what.find("bad.gguf"), std::string::npos) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
  }
}

}  // namespace

// Hand-worked TQ2_0 block: all trits 0 are code 1 in every bit pair (0x55);
// value 0 is byte 0 pair 0, value 32 byte 0 pair 1, value 128 byte 32 pair 0,
// value 255 byte 63 pair 3; the fp16 scale follows the 64 code bytes.
TEST(GgufBlocks, Tq2HandWorkedBlock) {
  std::vector<int8_t> t(256, 0);
  t[0] = 1;     // code 2 in bits 0-1 of byte 0
  t[32] = -1;   // code 0 in bits 2-3 of byte 0
  t[128] = 1;   // code 2 in bits 0-1 of byte 32
  t[255] = -1;  // code 0 in bits 6-7 of byte 63
  const uint16_t scale = 0x3c00;  // 1.0
  uint8_t b[66];
  pack_tq2_0(t.data(), &scale, 256, b);
  EXPECT_EQ(b[0], 0x52);  // 01 01 00 10
  EXPECT_EQ(b[1], 0x55);
  EXPECT_EQ(b[32], 0x56);
  EXPECT_EQ(b[63], 0x15);
  EXPECT_EQ(b[64], 0x00);
  EXPECT_EQ(b[65], 0x3c);
  float out[256];
  dequantize(GgmlType::kTQ2_0, b, 256, out);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(out[i], float(t[i])) << i;
  b[5] = 0xff;  // code 3
  EXPECT_THROW(dequantize(GgmlType::kTQ2_0, b, 256, out), Error);
}

// Hand-worked TQ1_0 block: five zero trits are digits 11111 (base 3) = 121,
// stored as ceil(121 * 256 / 243) = 128; qh's four zero trits and a 0 digit are
// 11110 = 120 -> 127. Value 0 (+1, digit 2 first) makes byte 0 21111 = 202 -> 213;
// value 160 (-1) is the first digit of byte 32: 01111 = 40 -> 43; value 255
// (+1) is the last digit of qh[3]: 11120 = 123 -> 130.
TEST(GgufBlocks, Tq1HandWorkedBlock) {
  std::vector<int8_t> t(256, 0);
  t[0] = 1;
  t[160] = -1;
  t[255] = 1;
  const uint16_t scale = 0x4000;  // 2.0
  uint8_t b[54];
  pack_tq1_0(t.data(), &scale, 256, b);
  EXPECT_EQ(b[0], 213);
  for (int j = 1; j < 48; ++j) EXPECT_EQ(b[j], j == 32 ? 43 : 128) << j;
  EXPECT_EQ(b[48], 127);
  EXPECT_EQ(b[51], 130);
  EXPECT_EQ(b[52], 0x00);
  EXPECT_EQ(b[53], 0x40);
  float out[256];
  dequantize(GgmlType::kTQ1_0, b, 256, out);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(out[i], 2.0f * t[i]) << i;
}

TEST(GgufBlocks, TernaryRoundTripsEveryTritAndScale) {
  const int64_t n = 256 * 37;
  const std::vector<int8_t> trits = random_trits(n, 1);
  std::vector<uint16_t> scales(n / 256);
  for (size_t b = 0; b < scales.size(); ++b) scales[b] = infer::float_to_fp16(0.01f * float(b + 1));
  for (GgmlType type : {GgmlType::kTQ2_0, GgmlType::kTQ1_0}) {
    std::vector<uint8_t> bytes(static_cast<size_t>(ggml_bytes(type, n)));
    EXPECT_EQ(bytes.size(), size_t(n / 256 * (type == GgmlType::kTQ2_0 ? 66 : 54)));
    std::vector<int8_t> back(static_cast<size_t>(n));
    std::vector<uint16_t> back_scales(scales.size());
    if (type == GgmlType::kTQ2_0) {
      pack_tq2_0(trits.data(), scales.data(), n, bytes.data());
      unpack_tq2_0(bytes.data(), n, back.data(), back_scales.data());
    } else {
      pack_tq1_0(trits.data(), scales.data(), n, bytes.data());
      unpack_tq1_0(bytes.data(), n, back.data(), back_scales.data());
    }
    EXPECT_EQ(back, trits) << ggml_type_name(uint32_t(type));
    EXPECT_EQ(back_scales, scales) << ggml_type_name(uint32_t(type));
  }
  // Every one of the 243 five-trit groups survives TQ1_0's byte scaling.
  std::vector<int8_t> all(256 * 243 / 48 * 48 + 256, 0);
  const int64_t m = int64_t(all.size()) / 256 * 256;
  for (int64_t b = 0; b * 256 < m; ++b) {
    for (int j = 0; j < 32; ++j) {
      const int code = int((b * 32 + j) % 243);
      for (int k = 0; k < 5; ++k) all[b * 256 + j + 32 * k] = int8_t((code / int(std::pow(3, 4 - k))) % 3 - 1);
    }
  }
  std::vector<uint16_t> ones(m / 256, 0x3c00), s(m / 256);
  std::vector<uint8_t> bytes(static_cast<size_t>(ggml_bytes(GgmlType::kTQ1_0, m)));
  pack_tq1_0(all.data(), ones.data(), m, bytes.data());
  std::vector<int8_t> back(static_cast<size_t>(m));
  unpack_tq1_0(bytes.data(), m, back.data(), s.data());
  EXPECT_TRUE(std::equal(back.begin(), back.end(), all.begin()));
  // Not a trit, not a whole block.
  std::vector<int8_t> bad(256, 0);
  bad[17] = 2;
  EXPECT_THROW(pack_tq2_0(bad.data(), ones.data(), 256, bytes.data()), Error);
  EXPECT_THROW(pack_tq1_0(trits.data(), ones.data(), 255, bytes.data()), Error);
}

// F16 rounds to nearest (relative error <= 2^-11); Q8_0 to a step of
// max|x| / 127 per 32 values, itself rounded to fp16 (error <= half a step
// plus 127 x the scale's rounding).
TEST(GgufBlocks, FloatTypesWithinTheirRounding) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  const int64_t n = 32 * 50;
  std::vector<float> x(n), back(n);
  for (auto& v : x) v = normal(rng);
  std::vector<uint8_t> f16(static_cast<size_t>(ggml_bytes(GgmlType::kF16, n)));
  pack_f16(x.data(), n, f16.data());
  dequantize(GgmlType::kF16, f16.data(), n, back.data());
  for (int64_t i = 0; i < n; ++i) EXPECT_LE(std::fabs(back[i] - x[i]), std::fabs(x[i]) * 0x1p-11f + 1e-7f) << i;
  std::vector<uint8_t> q8(static_cast<size_t>(ggml_bytes(GgmlType::kQ8_0, n)));
  EXPECT_EQ(q8.size(), size_t(n / 32 * 34));
  pack_q8_0(x.data(), n, q8.data());
  dequantize(GgmlType::kQ8_0, q8.data(), n, back.data());
  for (int64_t b = 0; b < n / 32; ++b) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    const float step = amax / 127;
    for (int i = 0; i < 32; ++i) EXPECT_LE(std::fabs(back[b * 32 + i] - x[b * 32 + i]), step * 0.5f + amax * 0x1p-11f * 1.01f);
  }
}

TEST(GgufFile, WritesAndReadsBackEveryField) {
  test::TempDir dir;
  Writer w;
  w.set("general.architecture", Value::str("llama"));
  w.set("a.u32", Value::u32(4000000000u));
  w.set("a.i32", Value::i32(-7));
  w.set("a.f32", Value::f32(0.25f));
  w.set("a.bool", Value::boolean(true));
  w.set("a.strings", Value::strings({"x", "", "\xe2\x96\x81y"}));
  w.set("a.floats", Value::f32s({1.5f, -2.0f}));
  w.set("a.bytes", Value::u8s(std::string("\x00\xff", 2)));
  EXPECT_THROW(w.set("a.i32", Value::i32(1)), Error);
  const std::vector<int8_t> trits = random_trits(512 * 3, 5);
  std::vector<uint16_t> scales(6, 0x3800);
  std::vector<uint8_t> tq2(static_cast<size_t>(ggml_bytes(GgmlType::kTQ2_0, 512 * 3)));
  pack_tq2_0(trits.data(), scales.data(), 512 * 3, tq2.data());
  w.add_tensor("blk.0.attn_q.weight", {512, 3}, GgmlType::kTQ2_0, tq2);
  std::vector<uint8_t> f32(5 * 4);
  const float v[5] = {1, 2, 3, 4, 5};
  std::memcpy(f32.data(), v, 20);
  w.add_tensor("output_norm.weight", {5}, GgmlType::kF32, f32);
  EXPECT_THROW(w.add_tensor("bad", {5}, GgmlType::kF32, std::vector<uint8_t>(19)), Error);
  EXPECT_THROW(w.add_tensor("odd", {100}, GgmlType::kTQ2_0, {}), Error);
  const uint64_t size = w.write(dir.file("m.gguf"));

  File f(dir.file("m.gguf"));
  EXPECT_EQ(f.size(), size);
  EXPECT_EQ(f.contents().version, 3u);
  EXPECT_EQ(f.string("general.architecture"), "llama");
  EXPECT_EQ(f.integer("a.u32"), 4000000000LL);
  EXPECT_EQ(f.integer("a.i32"), -7);
  EXPECT_EQ(f.real("a.f32"), 0.25);
  EXPECT_EQ(f.find("a.bool")->integer, 1);
  EXPECT_EQ(f.array("a.strings").array.at(2).string, "\xe2\x96\x81y");
  EXPECT_EQ(f.array("a.floats").array.at(1).real, -2.0);
  EXPECT_EQ(f.array("a.bytes").string, std::string("\x00\xff", 2));
  EXPECT_EQ(f.array("a.bytes").element_type, ValueType::kU8);
  EXPECT_THROW(f.integer("a.f32"), Error);
  EXPECT_THROW(f.string("missing.key"), Error);
  const TensorInfo* q = f.find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->ne, (std::vector<int64_t>{512, 3}));
  EXPECT_EQ(q->type, GgmlType::kTQ2_0);
  EXPECT_EQ(q->offset % 32, 0u);
  EXPECT_EQ(std::memcmp(f.tensor_data(*q), tq2.data(), tq2.size()), 0);
  const TensorInfo* norm = f.find_tensor("output_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->offset, 416u);  // 6 blocks of 66 bytes = 396, rounded up to 32
  EXPECT_EQ(std::memcmp(f.tensor_data(*norm), v, 20), 0);
  EXPECT_EQ(f.contents().data_offset % 32, 0u);
  EXPECT_EQ((f.contents().data_offset + norm->offset + 20 + 31) / 32 * 32, size);
}

TEST(GgufFile, CorruptImagesAreRefusedNamingTheField) {
  test::TempDir dir;
  Writer w;
  w.set("general.alignment", Value::u32(32));
  w.set("k", Value::strings({"a", "b"}));
  w.add_tensor("t", {256, 2}, GgmlType::kTQ2_0, std::vector<uint8_t>(132, 0x55));
  w.write(dir.file("ok.gguf"));
  const std::string ok = read_bytes(dir.file("ok.gguf"));
  ASSERT_NO_THROW(parse(reinterpret_cast<const uint8_t*>(ok.data()), ok.size(), "ok.gguf"));
  // Every truncation short of the last tensor's bytes is refused with an
  // input_error, never read past the end (its trailing padding may go).
  const Contents whole = parse(reinterpret_cast<const uint8_t*>(ok.data()), ok.size(), "ok.gguf");
  const size_t end = size_t(whole.data_offset + whole.tensors.back().offset + whole.tensors.back().bytes);
  EXPECT_EQ((end + 31) / 32 * 32, ok.size());
  for (size_t n = 0; n < end; ++n) {
    try {
      parse(reinterpret_cast<const uint8_t*>(ok.data()), n, "bad.gguf");
      ADD_FAILURE() << "a file cut to " << n << " bytes was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInput);
    }
  }
  // Header offsets of this file: magic 0, version 4, counts 8/16, first key at 24.
  auto patched = [&](size_t at, const void* p, size_t n) {
    std::string s = ok;
    std::memcpy(&s[at], p, n);
    return s;
  };
  const uint32_t v1 = 1, big = 0xffffffffu;
  const uint64_t huge = uint64_t(1) << 50;
  expect_refused(patched(0, "GGUX", 4), "not a GGUF file");
  expect_refused(patched(4, &v1, 4), "version 1");
  expect_refused(patched(16, &huge, 8), "metadata count");
  expect_refused(patched(8, &huge, 8), "tensor count");
  // general.alignment value (key length 8 + 17 bytes, type 4) at 24 + 25 + 4.
  const uint32_t three = 3;
  expect_refused(patched(53, &three, 4), "not a power of two");
  // The array's element count: key "k" at 57 (8 + 1), type 4, element type 4, count.
  expect_refused(patched(57 + 9 + 4 + 4, &huge, 8), "claims");
  const size_t tensor_at = ok.find(std::string("\x01\x00\x00\x00\x00\x00\x00\x00t", 9));
  ASSERT_NE(tensor_at, std::string::npos);
  // The tensor's n_dims, first dim, type and offset follow its name.
  const size_t dims = tensor_at + 9, ne0 = dims + 4, type = ne0 + 16, offset = type + 4;
  const uint32_t five = 5, q4k = 12;
  const uint64_t ne100 = 100, off8 = 8, off64 = 64;
  expect_refused(patched(dims, &five, 4), "dims");
  expect_refused(patched(ne0, &ne100, 8), "not a multiple");
  expect_refused(patched(type, &q4k, 4), "type 12");
  expect_refused(patched(type, &big, 4), "not one seedforge reads");
  expect_refused(patched(offset, &off8, 8), "not a multiple of the alignment");
  expect_refused(patched(offset, &off64, 8), "run past the end");
}

// ---- the exporter on a model built in memory ----

namespace {

// A llama2.c tokenizer.bin of V pieces: <unk>, BOS, EOS, 256 bytes, " ", letters.
std::string tiny_tokenizer(int V) {
  std::string out;
  auto put_i32 = [&](int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  auto put_piece = [&](const std::string& p, float score) {
    out.append(reinterpret_cast<const char*>(&score), 4);
    put_i32(static_cast<int32_t>(p.size()));
    out += p;
  };
  put_i32(8);
  put_piece("<unk>", 0);
  put_piece("\n<s>\n", 0);
  put_piece("\n</s>\n", 0);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    put_piece(name, 0);
  }
  put_piece(" ", -1);
  for (int i = 260; i < V; ++i) put_piece(" " + std::string(1, char('a' + i % 26)) + std::to_string(i), -float(i));
  return out;
}

infer::Projection ternary_projection(int64_t rows, int64_t cols, int64_t group, uint32_t seed) {
  const std::vector<int8_t> t = random_trits(rows * cols, seed);
  const int64_t runs = group > 0 ? (cols + group - 1) / group : 1;
  std::vector<uint16_t> s(static_cast<size_t>(rows * runs));
  for (size_t i = 0; i < s.size(); ++i) s[i] = infer::float_to_fp16(0.02f + 0.001f * float(i % 17));
  infer::Projection p;
  p.ternary = true;
  p.t = infer::pack_ternary(t.data(), rows, cols, group, s.data(), int64_t(s.size()), true);
  return p;
}

// dim C, hidden F, 4 heads of C/4 (2 kv heads), 1 layer, V tokens, tied.
std::shared_ptr<infer::Model> tiny_model(int64_t C, int64_t F, int64_t group, int64_t V = 300);

}  // namespace

namespace {

std::shared_ptr<infer::Model> tiny_model(int64_t C, int64_t F, int64_t group, int64_t V) {
  auto m = std::make_shared<infer::Model>();
  ModelConfig& c = m->config;
  c.dim = C;
  c.hidden_dim = F;
  c.n_layers = 1;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.vocab_size = V;
  c.max_seq_len = 64;
  m->path = "tiny.stage1.pt";
  m->activations.bits = 8;
  m->tokenizer_kind = "llama2c";
  m->tokenizer_bytes = tiny_tokenizer(300);
  const int64_t D = C / 4;
  infer::Layer l;
  l.attn_norm.assign(size_t(C), 1.0f);
  l.ffn_norm.assign(size_t(C), 0.5f);
  l.q = ternary_projection(4 * D, C, group, 1);
  l.k = ternary_projection(2 * D, C, group, 2);
  l.v = ternary_projection(2 * D, C, group, 3);
  l.o = ternary_projection(C, 4 * D, group, 4);
  l.gate = ternary_projection(F, C, group, 5);
  l.up = ternary_projection(F, C, group, 6);
  l.down = ternary_projection(C, F, group, 7);
  m->layers.push_back(std::move(l));
  m->final_norm.assign(size_t(C), 1.0f);
  m->head.rows = V;
  m->head.cols = C;
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  m->head.w.resize(size_t(V * C));
  for (auto& v : m->head.w) v = normal(rng);
  return m;
}

// Trit and scale of (row, col) of an engine ternary matrix, from its packing.
float engine_value(const infer::TernaryMatrix& t, int64_t r, int64_t c) {
  const uint8_t* codes = t.codes.data() + r * t.chunks * 8;
  const int64_t i = c % 32;
  const int code = (codes[(c / 32) * 8 + i % 8] >> (2 * (i / 8))) & 3;
  const int64_t g = t.groups > 1 ? c / t.group_cols : 0;
  return float(code - 1) * infer::fp16_to_float(t.scales16[size_t(r * t.scale_stride + g)]);
}

}  // namespace

TEST(GgufExport, TernaryExactWithLlamaNamesAndRopeRowOrder) {
  test::TempDir dir;
  const auto m = tiny_model(256, 512, 0);
  for (GgmlType type : {GgmlType::kTQ2_0, GgmlType::kTQ1_0}) {
    ExportOptions o;
    o.ternary = type;
    o.float_type = GgmlType::kF32;
    o.strict = true;
    const std::string path = dir.file("t.gguf");
    const ExportReport r = export_gguf(*m, path, o);
    EXPECT_EQ(r.changed(), 0);
    File f(path);
    EXPECT_EQ(f.string("general.architecture"), "llama");
    EXPECT_EQ(f.integer("llama.embedding_length"), 256);
    EXPECT_EQ(f.integer("llama.feed_forward_length"), 512);
    EXPECT_EQ(f.integer("llama.attention.head_count_kv"), 2);
    EXPECT_EQ(f.integer("llama.rope.dimension_count"), 64);
    EXPECT_EQ(f.string("tokenizer.ggml.model"), "llama");
    const Value& tokens = f.array("tokenizer.ggml.tokens");
    ASSERT_EQ(tokens.array.size(), 300u);
    EXPECT_EQ(tokens.array[1].string, "<s>");
    EXPECT_EQ(tokens.array[3].string, "<0x00>");
    EXPECT_EQ(tokens.array[259].string, "\xe2\x96\x81");
    EXPECT_EQ(f.array("tokenizer.ggml.token_type").array[3].integer, 6);
    EXPECT_EQ(f.find_tensor("output.weight"), nullptr);  // tied
    const TensorInfo* q = f.find_tensor("blk.0.attn_q.weight");
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->type, type);
    EXPECT_EQ(q->ne, (std::vector<int64_t>{256, 256}));
    // GGUF row h*D + 2i + j is seedforge row h*D + j*D/2 + i (D = 64).
    std::vector<float> row(256 * 256);
    dequantize(type, f.tensor_data(*q), 256 * 256, row.data());
    for (int64_t r : {0, 1, 2, 3, 64 + 5, 255}) {
      const int64_t h = r / 64, w = r % 64, src = h * 64 + (w % 2) * 32 + w / 2;
      for (int64_t c = 0; c < 256; ++c) ASSERT_EQ(row[size_t(r * 256 + c)], engine_value(m->layers[0].q.t, src, c)) << r << "," << c;
    }
    const TensorInfo* down = f.find_tensor("blk.0.ffn_down.weight");
    ASSERT_NE(down, nullptr);
    std::vector<float> d(256 * 512);
    dequantize(type, f.tensor_data(*down), 256 * 512, d.data());
    for (int64_t r = 0; r < 256; r += 37) {
      for (int64_t c = 0; c < 512; ++c) ASSERT_EQ(d[size_t(r * 512 + c)], engine_value(m->layers[0].down.t, r, c));
    }
    const TensorInfo* e = f.find_tensor("token_embd.weight");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->type, GgmlType::kF32);
    EXPECT_EQ(std::memcmp(f.tensor_data(*e), m->head.w.data(), m->head.w.size() * 4), 0);
  }
}

// A levels projection (values -L..L, the engine's I4-32 layout) has no GGUF
// type: it goes out as float rows of value x scale, exact in F32.
TEST(GgufExport, LevelsProjectionsGoOutAsFloatRowsOfValueTimesScale) {
  test::TempDir dir;
  auto m = tiny_model(256, 512, 0);
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> level(-3, 3);
  std::vector<int8_t> values(512 * 256);
  for (auto& v : values) v = static_cast<int8_t>(level(rng));
  std::vector<uint16_t> scales(512 * 8);
  for (size_t i = 0; i < scales.size(); ++i) scales[i] = infer::float_to_fp16(0.01f + 0.002f * float(i % 13));
  m->layers[0].gate.t = infer::pack_ternary(values.data(), 512, 256, 32, scales.data(), int64_t(scales.size()), true, 3);
  ExportOptions o;
  o.float_type = GgmlType::kF32;
  const std::string path = dir.file("levels.gguf");
  const ExportReport r = export_gguf(*m, path, o);
  for (const ExportedTensor& t : r.tensors) {
    if (t.name == "blk.0.ffn_gate.weight") {
      EXPECT_EQ(t.relative_error, 0.0);
    }
  }
  File f(path);
  const TensorInfo* gate = f.find_tensor("blk.0.ffn_gate.weight");
  ASSERT_NE(gate, nullptr);
  EXPECT_EQ(gate->type, GgmlType::kF32);
  std::vector<float> got(512 * 256);
  dequantize(gate->type, f.tensor_data(*gate), 512 * 256, got.data());
  for (int64_t row = 0; row < 512; ++row) {
    for (int64_t c = 0; c < 256; ++c) {
      const float want = float(values[size_t(row * 256 + c)]) * infer::fp16_to_float(scales[size_t(row * 8 + c / 32)]);
      ASSERT_EQ(got[size_t(row * 256 + c)], want) << row << "," << c;
    }
  }
}

TEST(GgufExport, BlocksThatDoNotFitGoToF16NamedAndStrictRefuses) {
  test::TempDir dir;
  // Per-32-column scales (stories260K's layout) on 256-wide rows: no TQ block holds one scale.
  const auto m = tiny_model(256, 512, 32);
  ExportOptions o;
  const ExportReport r = export_gguf(*m, dir.file("a.gguf"), o);
  int f16 = 0;
  for (const ExportedTensor& t : r.tensors) {
    if (t.name.rfind("blk.0.attn_q", 0) == 0 || t.name.rfind("blk.0.ffn", 0) == 0) {
      if (t.name.find("norm") != std::string::npos) continue;
      EXPECT_EQ(t.type, GgmlType::kF16) << t.name;
      EXPECT_NE(t.note.find("runs of 32 columns"), std::string::npos) << t.note;
      EXPECT_EQ(t.relative_error, 0.0) << t.name;  // trit x fp16 scale is an fp16 value
      ++f16;
    }
  }
  EXPECT_EQ(f16, 4);
  // The fp32 embedding rounded to F16 changes: named, and --strict refuses before writing.
  EXPECT_GT(r.changed(), 0);
  const std::string text = format_export_report(r);
  EXPECT_NE(text.find("token_embd.weight"), std::string::npos);
  EXPECT_NE(text.find("changed: relative error"), std::string::npos) << text;
  o.strict = true;
  try {
    export_gguf(*m, dir.file("strict.gguf"), o);
    FAIL() << "strict export of a changing tensor succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token_embd.weight"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::ifstream(dir.file("strict.gguf")).good());
  // Rows of 64 (not a multiple of 256).
  const auto small = tiny_model(64, 128, 0);
  const ExportReport s = export_gguf(*small, dir.file("s.gguf"), ExportOptions{});
  for (const ExportedTensor& t : s.tensors) {
    if (t.name == "blk.0.attn_k.weight") {
      EXPECT_NE(t.note.find("row length 64"), std::string::npos) << t.note;
    }
  }
  // Input norm is refused.
  auto norm = tiny_model(256, 512, 0);
  norm->activations.input_norm = true;
  EXPECT_THROW(export_gguf(*norm, dir.file("n.gguf"), ExportOptions{}), Error);
}

// The exporter's output read back by seedforge (gguf_model.h) runs bit for bit
// as the model it came from when the export was exact: ternary blocks back to
// per-row scales, F16 trit x scale back to trits per 32-column run, RoPE rows
// back in order.
TEST(GgufModel, ExactExportsEvaluateBitForBitAsTheSource) {
  test::TempDir dir;
  struct Case {
    int64_t C, F, group;
    GgmlType ternary;
  };
  for (const Case& k : {Case{256, 512, 0, GgmlType::kTQ2_0}, Case{256, 512, 0, GgmlType::kTQ1_0},
                        Case{256, 512, 32, GgmlType::kTQ2_0}, Case{64, 128, 0, GgmlType::kF16}}) {
    const auto source = tiny_model(k.C, k.F, k.group);
    ExportOptions o;
    o.ternary = k.ternary;
    o.float_type = GgmlType::kF32;
    o.strict = true;
    const std::string path = dir.file("m.gguf");
    export_gguf(*source, path, o);
    ASSERT_TRUE(is_gguf_file(path));
    const auto back = load_gguf_model(path);
    const std::string label = std::to_string(k.C) + "/" + std::to_string(k.group) + "/" + ggml_type_name(uint32_t(k.ternary));
    EXPECT_EQ(back->config.dim, k.C) << label;
    EXPECT_TRUE(back->layers[0].q.ternary) << label;
    EXPECT_EQ(back->layers[0].q.t.codes, source->layers[0].q.t.codes) << label;
    EXPECT_EQ(back->layers[0].q.t.scales16, source->layers[0].q.t.scales16) << label;
    EXPECT_EQ(back->activations.bits, 8);
    infer::Session a(source), b(back);
    const std::vector<int32_t> tokens = {1, 300 - 1, 5, 261, 262, 42, 7};
    const float* la = a.forward(tokens.data(), int64_t(tokens.size()), true);
    std::vector<float> first(la, la + tokens.size() * 300);
    const float* lb = b.forward(tokens.data(), int64_t(tokens.size()), true);
    for (size_t i = 0; i < first.size(); ++i) ASSERT_EQ(first[i], lb[i]) << label << " logit " << i;
  }
}

TEST(GgufModel, RefusesFilesItCannotRebuild) {
  test::TempDir dir;
  Writer w;
  w.set("general.architecture", Value::str("llama"));
  w.write(dir.file("bare.gguf"));
  try {
    load_gguf_model(dir.file("bare.gguf"));
    FAIL() << "loaded a GGUF without a tokenizer";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("seedforge.tokenizer"), std::string::npos) << e.what();
  }
  Writer g;
  g.set("general.architecture", Value::str("gpt2"));
  g.write(dir.file("gpt2.gguf"));
  EXPECT_THROW(load_gguf_model(dir.file("gpt2.gguf")), Error);
  EXPECT_FALSE(is_gguf_file(dir.file("missing.gguf")));
}

// The vocabularies llama.cpp reads, checked against seedforge's own tokenizers
// (libsentencepiece's ids for SentencePiece, the GPT-2 files' ids for BPE):
// the piece of each id a text encodes to is that id's GGUF token.
TEST(GgufVocab, SentencePieceAndGpt2VocabulariesKeepEveryId) {
  const std::string spm = data_path("tokenizers/llama2/tokenizer.model");
  const std::string encoder = data_path("tokenizers/gpt2/encoder.json"), merges = data_path("tokenizers/gpt2/vocab.bpe");
  if (!std::filesystem::exists(spm) || !std::filesystem::exists(encoder)) GTEST_SKIP() << "no Llama 2 / GPT-2 tokenizers in the data folder";
  test::TempDir dir;
  {
    auto m = tiny_model(64, 128, 0, 32000);
    m->tokenizer_kind = "sentencepiece";
    m->tokenizer_bytes = read_bytes(spm);
    export_gguf(*m, dir.file("spm.gguf"), ExportOptions{});
    File f(dir.file("spm.gguf"));
    EXPECT_EQ(f.string("tokenizer.ggml.model"), "llama");
    const Value& tokens = f.array("tokenizer.ggml.tokens");
    const Value& types = f.array("tokenizer.ggml.token_type");
    ASSERT_EQ(tokens.array.size(), 32000u);
    EXPECT_EQ(tokens.array[1].string, "<s>");
    EXPECT_EQ(types.array[1].integer, 3);
    EXPECT_EQ(tokens.array[3].string, "<0x00>");
    EXPECT_EQ(types.array[3].integer, 6);
    EXPECT_EQ(f.find("tokenizer.ggml.add_space_prefix")->integer, 1);
    const auto tok = m->make_tokenizer();
    const std::vector<int32_t> ids = tok->encode("The little dog ran");
    std::string joined;
    for (int32_t id : ids) joined += tokens.array[size_t(id)].string;
    const std::string u2581 = "\xe2\x96\x81";
    EXPECT_EQ(joined, u2581 + "The" + u2581 + "little" + u2581 + "dog" + u2581 + "ran");
  }
  {
    auto m = tiny_model(64, 128, 0, 50257);
    m->config.bos_id = m->config.eos_id = 50256;
    m->tokenizer_kind = "bpe";
    m->tokenizer_bytes = BpeTokenizer::from_gpt2_files(encoder, merges)->to_bytes();
    export_gguf(*m, dir.file("bpe.gguf"), ExportOptions{});
    File f(dir.file("bpe.gguf"));
    EXPECT_EQ(f.string("tokenizer.ggml.model"), "gpt2");
    EXPECT_EQ(f.string("tokenizer.ggml.pre"), "gpt-2");
    EXPECT_EQ(f.array("tokenizer.ggml.merges").array.size(), 50000u);
    EXPECT_EQ(f.array("tokenizer.ggml.merges").array[0].string, "\xc4\xa0 t");  // "Ġ t", GPT-2's first merge
    const Value& tokens = f.array("tokenizer.ggml.tokens");
    EXPECT_EQ(tokens.array[50256].string, "<|endoftext|>");
    EXPECT_EQ(f.array("tokenizer.ggml.token_type").array[50256].integer, 3);
    const auto tok = m->make_tokenizer();
    const std::vector<int32_t> ids = tok->encode("Hello world");
    ASSERT_EQ(ids, (std::vector<int32_t>{15496, 995}));
    EXPECT_EQ(tokens.array[15496].string, "Hello");
    EXPECT_EQ(tokens.array[995].string, "\xc4\xa0world");
  }
}
