#include "pipeline/tensor_encoding.h"

#include <cmath>

#include "codec/seedlm_codec.h"
#include "codec/packed_levels.h"
#include "codec/ternary.h"
#include "common/error.h"
#include "train/projection_levels.h"

namespace seedforge {

namespace {

torch::Tensor u8_tensor(const std::vector<uint8_t>& bytes) {
  auto t = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  if (!bytes.empty()) std::memcpy(t.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  return t;
}

std::vector<int64_t> shape_of(const torch::Tensor& t) { return t.sizes().vec(); }

}  // namespace

SeedLMParams seedlm_params_from_config(const SeedlmConfig& c) {
  SeedLMParams p;
  p.K = c.K;
  p.C = c.block_size;
  p.P = c.latent_dim;
  p.Q = c.Q;
  p.E = c.E;
  p.seed_candidates = c.seed_candidates;
  p.threads = c.threads;
  p.validate();
  return p;
}

Stage1Tensor encode_seedlm_tensor(const std::string& name, const torch::Tensor& w, const SeedLMParams& params,
                                  const EncodeProgress& progress, const SeedLMBlockSearch& search) {
  auto flat = w.detach().to(torch::kFloat32).contiguous().cpu();
  SeedLMEncodeOptions options;
  options.name = name;
  options.progress = progress;
  options.search = search;
  const SeedLMTensor enc = seedlm_encode(flat.data_ptr<float>(), flat.numel(), params, options);
  Stage1Tensor t;
  t.name = name;
  t.codec = "seedlm";
  t.shape = shape_of(w);
  t.scale = torch::tensor({enc.scale}, torch::kFloat32);
  t.payload = u8_tensor(enc.bits);
  return t;
}

int64_t ternary_scale_count(int64_t rows, int64_t cols, const BitNetOptions& options) {
  const TernaryScaleLayout layout(options.per_row_scale ? TernaryScaleMode::kPerRow : TernaryScaleMode::kPerTensor,
                                  options.per_row_scale ? options.scale_group : 0);
  return layout.scale_count(rows, cols);
}

Stage1Tensor encode_ternary_tensor(const std::string& name, const torch::Tensor& trits, const torch::Tensor& scale,
                                   const BitNetOptions& options) {
  TORCH_CHECK(trits.dim() == 2 && trits.scalar_type() == torch::kInt8, name, ": trits must be int8 [O, I]");
  auto c = trits.contiguous().cpu();
  const int64_t expected = ternary_scale_count(trits.size(0), trits.size(1), options);
  if (scale.numel() != expected) {
    throw usage_error(name, ": ", scale.numel(), " ternary scales, the BitNet options need ", expected);
  }
  Stage1Tensor t;
  t.name = name;
  t.codec = options.max_level > 1 ? "levels" : "ternary";
  t.shape = shape_of(trits);
  const torch::Tensor s = scale.detach().to(torch::kFloat32).cpu().reshape({-1});
  if (options.fp16_scales) {
    t.scale = s.to(torch::kFloat16).contiguous();
    // The trainer rounded them already; a value that changes here (or
    // overflows to Inf) would make the file differ from the trained model.
    if (!torch::equal(t.scale.to(torch::kFloat32), s)) {
      throw usage_error(name, ": ternary scales are not fp16 values (max ", s.abs().max().item<float>(),
                        "); fp16 scales must come from a model trained with them");
    }
  } else {
    t.scale = s.contiguous();
  }
  t.scale_group = options.per_row_scale ? options.scale_group : 0;
  if (options.max_level > 1) {
    t.max_level = options.max_level;
    t.payload = u8_tensor(pack_levels(c.data_ptr<int8_t>(), c.numel(), options.max_level));
  } else {
    t.payload = u8_tensor(pack_trits_base3(c.data_ptr<int8_t>(), c.numel()));
  }
  return t;
}

Stage1Tensor encode_int8_tensor(const std::string& name, const torch::Tensor& w) {
  TORCH_CHECK(w.dim() == 2, name, ": int8 encoding needs a 2-D tensor");
  auto f = w.detach().to(torch::kFloat32).cpu();
  auto scale = f.abs().amax(1).clamp_min(1e-12) / 127.0;  // [O]
  Stage1Tensor t;
  t.name = name;
  t.codec = "int8";
  t.shape = shape_of(w);
  t.scale = scale.contiguous();
  t.payload = torch::round(f / scale.unsqueeze(1)).clamp(-127, 127).to(torch::kInt8).contiguous();
  return t;
}

Stage1Tensor encode_raw_tensor(const std::string& name, const torch::Tensor& w, bool fp16) {
  Stage1Tensor t;
  t.name = name;
  t.codec = "raw";
  t.shape = shape_of(w);
  t.payload = w.detach().cpu().to(fp16 ? torch::kFloat16 : torch::kFloat32).contiguous();
  return t;
}

Stage1Tensor encode_float_tensor(const std::string& name, const torch::Tensor& w, const Stage1Config& config,
                                 const SeedLMParams& params, const EncodeProgress& progress,
                                 const SeedLMBlockSearch& search) {
  if (w.dim() >= 2) {
    switch (config.encoding.float_matrices) {
      case FloatEncoding::kSeedlm: return encode_seedlm_tensor(name, w, params, progress, search);
      case FloatEncoding::kInt8: return encode_int8_tensor(name, w.reshape({w.size(0), -1}));
      case FloatEncoding::kFp16: return encode_raw_tensor(name, w, true);
    }
  }
  return encode_raw_tensor(name, w, config.encoding.vector == VectorEncoding::kFp16);
}

std::string planned_codec(const std::string& name, const std::vector<int64_t>& shape, bool is_projection,
                          const Stage1Config& config) {
  if (is_projection) {
    if (config.encoding.ternary != TernaryEncoding::kPacked) return "seedlm";
    return planned_max_level(name, config) > 1 ? "levels" : "ternary";
  }
  if (shape.size() >= 2) {
    switch (config.encoding.float_matrices) {
      case FloatEncoding::kSeedlm: return "seedlm";
      case FloatEncoding::kInt8: return "int8";
      case FloatEncoding::kFp16: return "raw";
    }
  }
  return "raw";
}

int64_t planned_payload_bytes(const std::string& codec, const std::vector<int64_t>& shape, const BitNetOptions& bitnet,
                              bool fp16, const SeedLMParams& params) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  const int64_t rows = shape.empty() ? 1 : shape[0];
  if (codec == "seedlm") return seedlm_stream_bytes(n, params) + 4;
  if (codec == "ternary" || codec == "levels") {
    const int64_t cols = shape.size() == 2 ? shape[1] : 1;
    const int64_t packed = bitnet.max_level > 1 ? packed_levels_bytes(n, bitnet.max_level) : trits_base3_bytes(n);
    return packed + ternary_scale_count(rows, cols, bitnet) * (bitnet.fp16_scales ? 2 : 4);
  }
  if (codec == "int8") return n + 4 * rows;
  return n * (fp16 ? 2 : 4);
}

int planned_max_level(const std::string& name, const Stage1Config& config) {
  const std::string suffix = ".weight";
  const bool weight = name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  return projection_max_level(parse_projection_levels(config.bitnet.projection_levels, "config"),
                              weight ? name.substr(0, name.size() - suffix.size()) : name);
}

bool is_projection_weight(const std::string& name) {
  if (name.rfind("model.layers.", 0) != 0) return false;
  for (const std::string suffix : {".q_proj.weight", ".k_proj.weight", ".v_proj.weight", ".o_proj.weight",
                                   ".gate_proj.weight", ".up_proj.weight", ".down_proj.weight"}) {
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) return true;
  }
  return false;
}

double relative_error(const torch::Tensor& reference, const torch::Tensor& approximation) {
  // In fp64, 2^20 elements at a time: whole-tensor fp64 copies would take 24
  // bytes an element of the largest matrix (1 GB for a 32K x 1K embedding).
  const torch::Tensor a = reference.detach().cpu().reshape({-1});
  const torch::Tensor b = approximation.detach().cpu().reshape({-1});
  TORCH_CHECK(a.numel() == b.numel(), "relative_error: ", a.numel(), " against ", b.numel(), " elements");
  const int64_t n = a.numel(), chunk = int64_t(1) << 20;
  double denom = 0.0, diff = 0.0;
  for (int64_t s = 0; s < n; s += chunk) {
    const int64_t m = std::min(chunk, n - s);
    const torch::Tensor x = a.narrow(0, s, m).to(torch::kFloat64), y = b.narrow(0, s, m).to(torch::kFloat64);
    denom += x.square().sum().item<double>();
    diff += (x - y).square().sum().item<double>();
  }
  if (denom == 0) return diff == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::sqrt(diff) / std::sqrt(denom);
}

}  // namespace seedforge
