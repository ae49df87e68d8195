// The engine's forward pass (see session.h for the formulas).
#include "infer/session.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/error.h"

namespace seedforge::infer {

namespace {

// Below this many multiply-adds a matrix runs on one thread: waking the
// others costs more (stories260K's 64 x 64 projections stay serial).
constexpr int64_t kParallelWork = int64_t(1) << 18;

// Rows a kernel call takes when several tokens run (prefill): the kernels
// walk tokens four at a time inside a row range, so a range this small stays
// in L1 across all the tokens instead of being read from memory once per four.
constexpr int64_t kTileBytes = 16 * 1024;

// Runs kernel(part) over [begin, end) in tiles of rows of `row_bytes` each.
template <typename Args, typename Fn>
void tiled(const Args& a, int64_t begin, int64_t end, int64_t row_bytes, Fn fn) {
  const int64_t tile = a.T > 4 ? std::max<int64_t>(1, kTileBytes / std::max<int64_t>(row_bytes, 1)) : end - begin;
  for (int64_t b = begin; b < end; b += tile) {
    Args part = a;
    part.row_begin = b;
    part.row_end = std::min(end, b + tile);
    fn(part);
  }
}

constexpr float kActivationEps = 1e-5f;  // train/bit_linear_options.h
constexpr float kInputNormEps = 1e-5f;

// y = x * rsqrt(mean(x^2) + eps) (* w), fp32 as RMSNormImpl / bitnet_input_norm.
void rms_norm(const float* x, int64_t n, float eps, const float* w, float* y) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * double(x[i]);
  const float mean = static_cast<float>(ss / double(n));
  const float r = 1.0f / std::sqrt(mean + eps);
  if (w != nullptr) {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * r) * w[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * r;
  }
}

int64_t padded(int64_t k) { return (k + kChunkCols - 1) / kChunkCols * kChunkCols; }

}  // namespace

float quantize_activations_int8(const float* x, int64_t K, int bits, int8_t* q) {
  if (bits < 2 || bits > 8) throw usage_error("int8 activation quantization needs 2..8 bits, got ", bits);
  const float qp = static_cast<float>((1 << (bits - 1)) - 1);
  const float qn = static_cast<float>(-(1 << (bits - 1)));
  float a8[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // partial maxima: the loop vectorizes
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    for (int i = 0; i < 8; ++i) a8[i] = std::max(a8[i], std::fabs(x[k + i]));
  }
  float amax = 0.0f;
  for (int i = 0; i < 8; ++i) amax = std::max(amax, a8[i]);
  for (; k < K; ++k) amax = std::max(amax, std::fabs(x[k]));
  const float s = qp / std::max(amax, kActivationEps);
  // Round half to even as torch.round: adding and subtracting 1.5 * 2^23 rounds
  // in the default rounding mode (exact for |x * s| < 2^22; here |x * s| <= qp
  // up to rounding), and vectorizes where a nearbyint call does not.
  constexpr float kMagic = 12582912.0f;
  for (k = 0; k < K; ++k) {
    const float r = (x[k] * s + kMagic) - kMagic;
    const float c = std::min(std::max(r, qn), qp);
    // A NaN (an infinite or NaN activation of a broken model: the loader
    // checks the file's values, not what they compute) becomes 0 instead of
    // an undefined conversion; finite inputs are unaffected (found by fuzz_infer_model).
    q[k] = static_cast<int8_t>(c == c ? c : 0.0f);
  }
  return s;
}

// A projection input, prepared once for the projections that share it
// (q/k/v, gate/up): normalized and quantized per token.
struct Session::Input {
  int64_t T = 0, K = 0, Kp = 0;
  ActivationQuant quant;
  std::vector<float> xn;      // [T][Kp]: the input after the optional input norm, zero past K
  std::vector<int8_t> q;      // [T][Kp] (bits 2..8)
  std::vector<float> xscale;  // [T]
  std::vector<float> xq;      // [T][Kp]: what BitLinear multiplies by (x_q / s, or xn)
  bool has_xq = false;
  std::vector<int32_t> sums;  // [T][groups] for (groups, group_cols)
  int64_t sums_groups = -1, sums_group_cols = -1;

  bool int8() const { return quant.bits >= 2 && quant.bits <= 8; }

  const float* floats() {
    if (has_xq) return xq.data();
    xq.assign(static_cast<size_t>(T * Kp), 0.0f);
    if (quant.bits == 0) {
      std::copy(xn.begin(), xn.end(), xq.begin());
    } else if (int8()) {
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t k = 0; k < K; ++k) xq[t * Kp + k] = static_cast<float>(q[t * Kp + k]) / xscale[t];
      }
    } else {  // 9..16 bits: quantized in float
      const float qp = static_cast<float>(std::ldexp(1.0, quant.bits - 1) - 1.0);
      const float qn = static_cast<float>(-std::ldexp(1.0, quant.bits - 1));
      for (int64_t t = 0; t < T; ++t) {
        const float* x = xn.data() + t * Kp;
        float amax = 0.0f;
        for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(x[k]));
        const float s = qp / std::max(amax, kActivationEps);
        for (int64_t k = 0; k < K; ++k) xq[t * Kp + k] = std::min(std::max(std::nearbyint(x[k] * s), qn), qp) / s;
      }
    }
    has_xq = true;
    return xq.data();
  }

  const int32_t* run_sums(int64_t groups, int64_t group_cols) {
    if (groups == sums_groups && group_cols == sums_group_cols) return sums.data();
    sums.assign(static_cast<size_t>(T * groups), 0);
    for (int64_t t = 0; t < T; ++t) {
      const int8_t* qt = q.data() + t * Kp;
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t c0 = groups == 1 ? 0 : g * group_cols;
        const int64_t c1 = groups == 1 || g == groups - 1 ? Kp : (g + 1) * group_cols;
        int32_t s = 0;
        for (int64_t c = c0; c < c1; ++c) s += qt[c];
        sums[static_cast<size_t>(t * groups + g)] = s;
      }
    }
    sums_groups = groups;
    sums_group_cols = group_cols;
    return sums.data();
  }
};

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options)
    : model_(std::move(model)),
      kernels_(options.kernels.empty() ? &default_kernels() : &kernels_by_name(options.kernels.c_str())),
      in_(std::make_unique<Input>()) {
  if (!model_) throw usage_error("inference session: no model");
  if (options.threads < 1) throw usage_error("inference session: threads must be >= 1, got ", options.threads);
  if (options.threads > 1) pool_ = std::make_unique<ThreadPool>(options.threads);
  in_->quant = model_->activations;
  k_cache_.resize(model_->layers.size());
  v_cache_.resize(model_->layers.size());
}

Session::~Session() = default;

void Session::rewind(int64_t position) {
  if (position < 0 || position > position_) {
    throw usage_error("inference session: cannot rewind to position ", position, " (", position_, " cached)");
  }
  position_ = position;
}

int64_t Session::state_bytes() const {
  int64_t n = 0;
  for (const auto& k : k_cache_) n += static_cast<int64_t>(k.capacity() * sizeof(float));
  for (const auto& v : v_cache_) n += static_cast<int64_t>(v.capacity() * sizeof(float));
  for (const auto* b : {&x_, &h_, &q_, &k_, &v_, &att_, &tmp_, &gate_, &up_, &logits_, &rope_cos_, &rope_sin_}) {
    n += static_cast<int64_t>(b->capacity() * sizeof(float));
  }
  return n;
}

void Session::reserve(int64_t positions) {
  if (positions <= capacity_) return;
  const ModelConfig& c = model_->config;
  const int64_t cap = std::min(c.max_seq_len, std::max(positions, std::max<int64_t>(2 * capacity_, 64)));
  const int64_t kv = c.n_kv_heads * c.head_dim();
  for (size_t l = 0; l < k_cache_.size(); ++l) {
    // Keys: each of the kv rows of positions moves to the longer row.
    std::vector<float> k(static_cast<size_t>(kv * cap));
    for (int64_t r = 0; r < kv && capacity_ > 0; ++r) {
      std::memcpy(k.data() + r * cap, k_cache_[l].data() + r * capacity_, static_cast<size_t>(capacity_) * sizeof(float));
    }
    k_cache_[l] = std::move(k);
    v_cache_[l].resize(static_cast<size_t>(cap * kv));
  }
  // RoPE tables as the libtorch model computes them: inv_freq, angles and
  // cos/sin in double, then rounded to fp32.
  const int64_t half = c.head_dim() / 2;
  rope_cos_.resize(static_cast<size_t>(cap * half));
  rope_sin_.resize(static_cast<size_t>(cap * half));
  for (int64_t p = capacity_; p < cap; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      const double inv_freq = std::pow(c.rope_theta, -double(2 * i) / double(c.head_dim()));
      const double angle = double(p) * inv_freq;
      rope_cos_[static_cast<size_t>(p * half + i)] = static_cast<float>(std::cos(angle));
      rope_sin_[static_cast<size_t>(p * half + i)] = static_cast<float>(std::sin(angle));
    }
  }
  capacity_ = cap;
}

template <typename F>
void Session::parallel_rows(int64_t rows, int64_t work_per_row, F&& fn) {
  const int threads = pool_ ? pool_->size() : 1;
  if (threads == 1 || rows * work_per_row < kParallelWork || rows < 2) {
    fn(0, rows);
    return;
  }
  // A few tasks a thread, so that a thread slowed by another process does not hold up the rest.
  const int64_t tasks = std::min<int64_t>(rows, threads * 4);
  pool_->run(tasks, [&](int64_t i) { fn(rows * i / tasks, rows * (i + 1) / tasks); });
}

void Session::prepare(Input& in, const float* x, int64_t T, int64_t K) {
  in.T = T;
  in.K = K;
  in.Kp = padded(K);
  in.has_xq = false;
  in.sums_groups = in.sums_group_cols = -1;
  in.xn.assign(static_cast<size_t>(T * in.Kp), 0.0f);
  for (int64_t t = 0; t < T; ++t) {
    float* dst = in.xn.data() + t * in.Kp;
    if (in.quant.input_norm) rms_norm(x + t * K, K, kInputNormEps, nullptr, dst);
    else std::memcpy(dst, x + t * K, static_cast<size_t>(K) * sizeof(float));
  }
  if (!in.int8()) return;
  in.q.assign(static_cast<size_t>(T * in.Kp), 0);
  in.xscale.resize(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    in.xscale[static_cast<size_t>(t)] =
        quantize_activations_int8(in.xn.data() + t * in.Kp, K, in.quant.bits, in.q.data() + t * in.Kp);
  }
}

void Session::dense(const DenseMatrix& m, const float* x, int64_t x_stride, int64_t T, float* y, int64_t y_stride) {
  DenseArgs a;
  a.w_fp16 = m.fp16;
  a.w = m.fp16 ? static_cast<const void*>(m.w16.data()) : static_cast<const void*>(m.w.data());
  a.w_stride = m.cols;
  a.K = m.cols;
  a.x = x;
  a.x_stride = x_stride;
  a.T = T;
  a.y = y;
  a.y_stride = y_stride;
  const int64_t row_bytes = m.cols * (m.fp16 ? 2 : 4);
  parallel_rows(m.rows, T * m.cols,
                [&](int64_t begin, int64_t end) { tiled(a, begin, end, row_bytes, kernels_->dense); });
}

void Session::project(const Projection& p, Input& in, float* y, int64_t y_stride) {
  if (!p.ternary) {
    DenseArgs a;
    a.w_fp16 = p.d.fp16;
    a.w = p.d.fp16 ? static_cast<const void*>(p.d.w16.data()) : static_cast<const void*>(p.d.w.data());
    a.w_stride = p.d.cols;
    a.K = p.d.cols;
    a.x = in.floats();
    a.x_stride = in.Kp;
    a.bias = p.bias.empty() ? nullptr : p.bias.data();
    a.T = in.T;
    a.y = y;
    a.y_stride = y_stride;
    const int64_t row_bytes = p.d.cols * (p.d.fp16 ? 2 : 4);
    parallel_rows(p.d.rows, in.T * p.d.cols,
                  [&](int64_t begin, int64_t end) { tiled(a, begin, end, row_bytes, kernels_->dense); });
    return;
  }
  const TernaryMatrix& m = p.t;
  TernaryArgs a;
  a.codes = m.codes.data();
  a.chunks = m.chunks;
  a.scales_fp16 = m.fp16_scales;
  a.scales = m.fp16_scales ? static_cast<const void*>(m.scales16.data()) : static_cast<const void*>(m.scales.data());
  a.scale_stride = m.scale_stride;
  a.groups = m.groups;
  a.group_cols = m.group_cols;
  a.bias = p.bias.empty() ? nullptr : p.bias.data();
  a.T = in.T;
  a.y = y;
  a.y_stride = y_stride;
  TernaryKernelFn fn;
  if (in.int8()) {
    a.q = in.q.data();
    a.q_stride = in.Kp;
    a.qsum = in.run_sums(m.groups, m.group_cols);
    a.qsum_stride = m.groups;
    a.xscale = in.xscale.data();
    a.code_offset = m.max_level;
    const Kernels& k = simd_layout(m.groups, m.group_cols) ? *kernels_ : kernels_generic();
    fn = m.max_level == 1 ? k.ternary_int8 : k.levels_int8;
  } else {
    // The loader keeps levels with float activations on the dense path.
    if (m.max_level != 1) throw usage_error("inference session: a levels projection needs int8 activations");
    a.x = in.floats();
    a.x_stride = in.Kp;
    fn = kernels_->ternary_float;
  }
  const int64_t row_bytes = m.chunks * m.chunk_bytes();
  parallel_rows(m.rows, in.T * m.cols, [&](int64_t begin, int64_t end) { tiled(a, begin, end, row_bytes, fn); });
}

void Session::attention(int64_t layer, int64_t T) {
  const ModelConfig& c = model_->config;
  const int64_t H = c.n_heads, Hkv = c.n_kv_heads, D = c.head_dim(), G = H / Hkv, kv = Hkv * D;
  const float* kc = k_cache_[static_cast<size_t>(layer)].data();
  const float* vc = v_cache_[static_cast<size_t>(layer)].data();
  const int64_t start = position_, cap = capacity_;
  const AttentionFn attend = kernels_->attend;
  parallel_rows(T * H, (start + T) * D * 2, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> scores;
    scores.resize(static_cast<size_t>(start + T));
    for (int64_t i = begin; i < end; ++i) {
      const int64_t t = i / H, h = i % H, kvh = h / G;
      AttentionArgs a;
      a.q = q_.data() + t * H * D + h * D;
      a.kt = kc + kvh * D * cap;
      a.k_stride = cap;
      a.v = vc + kvh * D;
      a.v_stride = kv;
      a.n = start + t + 1;  // keys 0 .. start + t
      a.D = D;
      a.scores = scores.data();
      a.out = att_.data() + t * H * D + h * D;
      attend(a);
    }
  });
}

const float* Session::forward(const int32_t* tokens, int64_t n, bool all_logits) {
  const ModelConfig& c = model_->config;
  if (n <= 0) throw usage_error("inference session: forward needs at least one token, got ", n);
  if (position_ + n > c.max_seq_len) {
    throw usage_error("sequence of ", position_ + n, " positions exceeds max_seq_len ", c.max_seq_len);
  }
  for (int64_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= c.vocab_size) {
      throw usage_error("token id ", tokens[t], " is outside the vocabulary of ", c.vocab_size);
    }
  }
  reserve(position_ + n);
  const int64_t T = n, C = c.dim, F = c.hidden_dim, H = c.n_heads, D = c.head_dim(), kv = c.n_kv_heads * D;
  const int64_t half = D / 2;
  const float eps = static_cast<float>(c.norm_eps);
  auto size = [](std::vector<float>& b, int64_t count) {
    if (static_cast<int64_t>(b.size()) < count) b.resize(static_cast<size_t>(count));
  };
  size(x_, T * C);
  size(h_, T * C);
  size(q_, T * H * D);
  size(k_, T * kv);
  size(v_, T * kv);
  size(att_, T * H * D);
  size(tmp_, T * C);
  size(gate_, T * F);
  size(up_, T * F);
  for (int64_t t = 0; t < T; ++t) model_->embed(tokens[t], x_.data() + t * C);

  Input& in = *in_;
  const float qscale = static_cast<float>(1.0 / std::sqrt(double(D)));
  for (size_t l = 0; l < model_->layers.size(); ++l) {
    const Layer& L = model_->layers[l];
    for (int64_t t = 0; t < T; ++t) rms_norm(x_.data() + t * C, C, eps, L.attn_norm.data(), h_.data() + t * C);
    prepare(in, h_.data(), T, C);
    project(L.q, in, q_.data(), H * D);
    project(L.k, in, k_.data(), kv);
    project(L.v, in, v_.data(), kv);
    // RoPE on q (then scaled by 1/sqrt(D)) and k, half-split pairs (i, i + D/2).
    auto rope = [&](float* x, int64_t heads, int64_t pos, float scale) {
      const float* cs = rope_cos_.data() + pos * half;
      const float* sn = rope_sin_.data() + pos * half;
      for (int64_t h = 0; h < heads; ++h) {
        float* v = x + h * D;
        for (int64_t i = 0; i < half; ++i) {
          const float a = v[i], b = v[i + half];
          float lo = a * cs[i] + (-b) * sn[i];
          float hi = b * cs[i] + a * sn[i];
          if (scale != 1.0f) {
            lo *= scale;
            hi *= scale;
          }
          v[i] = lo;
          v[i + half] = hi;
        }
      }
    };
    float* kc = k_cache_[l].data();
    float* vc = v_cache_[l].data();
    for (int64_t t = 0; t < T; ++t) {
      const int64_t pos = position_ + t;
      rope(q_.data() + t * H * D, H, pos, qscale);
      rope(k_.data() + t * kv, c.n_kv_heads, pos, 1.0f);
      for (int64_t r = 0; r < kv; ++r) kc[r * capacity_ + pos] = k_[static_cast<size_t>(t * kv + r)];
      std::memcpy(vc + pos * kv, v_.data() + t * kv, static_cast<size_t>(kv) * sizeof(float));
    }
    attention(static_cast<int64_t>(l), T);
    prepare(in, att_.data(), T, H * D);
    project(L.o, in, tmp_.data(), C);
    for (int64_t i = 0; i < T * C; ++i) x_[static_cast<size_t>(i)] += tmp_[static_cast<size_t>(i)];

    for (int64_t t = 0; t < T; ++t) rms_norm(x_.data() + t * C, C, eps, L.ffn_norm.data(), h_.data() + t * C);
    prepare(in, h_.data(), T, C);
    project(L.gate, in, gate_.data(), F);
    project(L.up, in, up_.data(), F);
    for (int64_t i = 0; i < T * F; ++i) {
      const float g = gate_[static_cast<size_t>(i)];
      gate_[static_cast<size_t>(i)] = (g / (1.0f + std::exp(-g))) * up_[static_cast<size_t>(i)];
    }
    prepare(in, gate_.data(), T, F);
    project(L.down, in, tmp_.data(), C);
    for (int64_t i = 0; i < T * C; ++i) x_[static_cast<size_t>(i)] += tmp_[static_cast<size_t>(i)];
  }

  const int64_t first = all_logits ? 0 : T - 1, rows = T - first;
  for (int64_t t = first; t < T; ++t) {
    rms_norm(x_.data() + t * C, C, eps, model_->final_norm.data(), h_.data() + (t - first) * C);
  }
  size(logits_, rows * c.vocab_size);
  dense(model_->head, h_.data(), C, rows, logits_.data(), c.vocab_size);
  position_ += n;
  return logits_.data();
}

}  // namespace seedforge::infer
