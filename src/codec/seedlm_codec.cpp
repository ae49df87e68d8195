#include "codec/seedlm_codec.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <exception>
#include <thread>

#include "codec/bit_stream.h"
#include "codec/seedlm_basis.h"
#include "common/error.h"

namespace seedforge {
namespace {

std::string tensor_label(const std::string& name) { return name.empty() ? std::string("tensor") : "tensor '" + name + "'"; }

void check_finite(const float* w, int64_t n, const std::string& name) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(w[i])) {
      throw input_error("SeedLM encode of ", tensor_label(name), ": value ", i, " of ", n, " is ",
                        std::isnan(w[i]) ? "NaN" : (w[i] > 0 ? "+Inf" : "-Inf"),
                        "; the codec needs finite weights");
    }
  }
}

void read_block(BitReader& reader, const SeedLMParams& params, int64_t index, SeedLMBlockCode* code) {
  code->seed = reader.get(params.K);
  if (code->seed == 0) {
    throw input_error("SeedLM stream: block ", index, " has seed 0 (seeds are 1 .. 2^K-1); corrupt stream or wrong K");
  }
  code->exponent = reader.get_signed(params.E);
  for (int i = 0; i < params.P; ++i) code->q[i] = static_cast<int8_t>(reader.get_signed(params.Q));
  code->error = 0.0;
}

}  // namespace

float seedlm_tensor_scale(const float* w, int64_t n, const SeedLMParams& params) {
  double max_abs = 0.0;
  for (int64_t i = 0; i < n; ++i) max_abs = std::max(max_abs, static_cast<double>(std::fabs(w[i])));
  if (max_abs == 0.0) return 1.0f;
  const int emax = params.exponent_max();
  // Measured on Gaussian and Student-t(3) weights: E=4 is flat for e_top in
  // [-3, 6]; E=2 and E=3 lose accuracy at the bottom of their few exponents
  // when e_top is lower than this (heavy tails put typical weights far below max).
  const int e_top = std::min(3, emax - (params.E - 2));
  const double top = std::ldexp(static_cast<double>(1 << (params.Q - 1)) - 0.5, e_top);
  return static_cast<float>(std::max(max_abs / top, static_cast<double>(FLT_MIN)));
}

int64_t seedlm_block_count(int64_t n_values, const SeedLMParams& params) {
  return (n_values + params.C - 1) / params.C;
}

int64_t seedlm_stream_bytes(int64_t n_values, const SeedLMParams& params) {
  return (seedlm_block_count(n_values, params) * params.bits_per_block() + 7) / 8;
}

std::vector<uint8_t> seedlm_pack_blocks(const SeedLMBlockCode* codes, int64_t n_blocks, const SeedLMParams& params) {
  BitWriter writer(static_cast<size_t>((n_blocks * params.bits_per_block() + 7) / 8));
  const uint32_t q_mask = (1u << params.Q) - 1u, e_mask = (1u << params.E) - 1u;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const SeedLMBlockCode& code = codes[b];
    writer.put(code.seed, params.K);
    writer.put(static_cast<uint32_t>(code.exponent) & e_mask, params.E);
    for (int i = 0; i < params.P; ++i) writer.put(static_cast<uint32_t>(code.q[i]) & q_mask, params.Q);
  }
  return writer.take();
}

std::vector<SeedLMBlockCode> seedlm_unpack_blocks(const uint8_t* bytes, size_t size, int64_t n_blocks,
                                                  const SeedLMParams& params) {
  const int64_t expected = (n_blocks * params.bits_per_block() + 7) / 8;
  if (static_cast<int64_t>(size) != expected) {
    throw input_error("SeedLM stream: ", size, " bytes, expected ", expected, " for ", n_blocks, " blocks of ",
                      params.bits_per_block(), " bits");
  }
  std::vector<SeedLMBlockCode> codes(static_cast<size_t>(n_blocks));
  BitReader reader(bytes, size);
  for (int64_t b = 0; b < n_blocks; ++b) read_block(reader, params, b, &codes[static_cast<size_t>(b)]);
  return codes;
}

SeedLMTensor seedlm_encode(const float* w, int64_t n, const SeedLMParams& params, const SeedLMEncodeOptions& options) {
  params.validate();
  if (n < 0) throw usage_error("SeedLM encode of ", tensor_label(options.name), ": negative size ", n);
  if (n > 0 && w == nullptr) throw usage_error("SeedLM encode of ", tensor_label(options.name), ": null data");
  check_finite(w, n, options.name);

  SeedLMTensor out;
  out.n_values = n;
  out.scale = seedlm_tensor_scale(w, n, params);
  const int C = params.C;
  const int64_t n_blocks = seedlm_block_count(n, params);
  // Scaled blocks, the last zero-padded.
  std::vector<float> blocks(static_cast<size_t>(n_blocks * C), 0.0f);
  const double scale = out.scale;
  for (int64_t i = 0; i < n; ++i) blocks[static_cast<size_t>(i)] = static_cast<float>(w[i] / scale);
  std::vector<SeedLMBlockCode> codes(static_cast<size_t>(n_blocks));
  if (options.search) {
    options.search(blocks.data(), n_blocks, codes.data());
  } else {
    seedlm_search(blocks.data(), n_blocks, params, codes.data(), options.progress, options.stats);
  }
  out.bits = seedlm_pack_blocks(codes.data(), n_blocks, params);
  return out;
}

void seedlm_decode(const SeedLMTensor& tensor, const SeedLMParams& params, float* out) {
  params.validate();
  if (tensor.n_values < 0) throw input_error("SeedLM decode: negative value count ", tensor.n_values);
  if (!std::isfinite(tensor.scale) || !(tensor.scale > 0.0f)) {
    throw input_error("SeedLM decode: scale ", tensor.scale, " is not a positive finite number");
  }
  const int64_t expected = seedlm_stream_bytes(tensor.n_values, params);
  if (static_cast<int64_t>(tensor.bits.size()) != expected) {
    throw input_error("SeedLM decode: stream has ", tensor.bits.size(), " bytes, expected ", expected, " for ",
                      tensor.n_values, " values (C=", params.C, ", ", params.bits_per_block(),
                      " bits per block); wrong parameters or truncated data");
  }
  const int C = params.C, P = params.P;
  const int64_t n_blocks = seedlm_block_count(tensor.n_values, params);
  const uint32_t mask = params.tap_mask();
  const double scale = tensor.scale;

  auto decode_range = [&](int64_t begin, int64_t end) {
    BitReader reader(tensor.bits.data(), tensor.bits.size());
    reader.seek(begin * params.bits_per_block());
    float U[kSeedLMMaxC * kSeedLMMaxP];
    double recon[kSeedLMMaxC];
    SeedLMBlockCode code;
    for (int64_t b = begin; b < end; ++b) {
      read_block(reader, params, b, &code);
      seedlm_basis(params.K, mask, C, P, code.seed, U);
      seedlm_reconstruct(U, C, P, code.q, code.exponent, recon);
      const int64_t base = b * C;
      const int n_valid = static_cast<int>(std::min<int64_t>(C, tensor.n_values - base));
      for (int j = 0; j < n_valid; ++j) out[base + j] = static_cast<float>(scale * recon[j]);
    }
  };

  int n_threads = params.threads > 0 ? params.threads : static_cast<int>(std::thread::hardware_concurrency());
  n_threads = static_cast<int>(std::clamp<int64_t>(n_threads, 1, std::max<int64_t>(1, n_blocks / 4096)));
  if (n_threads == 1) {
    decode_range(0, n_blocks);
    return;
  }
  // Errors (corrupt seeds) are collected and the first rethrown after joining.
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n_threads));
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; ++t) {
    threads.emplace_back([&, t] {
      try {
        decode_range(n_blocks * t / n_threads, n_blocks * (t + 1) / n_threads);
      } catch (...) {
        errors[static_cast<size_t>(t)] = std::current_exception();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

void seedlm_decode_range(const uint8_t* bits, size_t size, int64_t n_values, float scale, const SeedLMParams& params,
                         int64_t begin, int64_t end, float* out) {
  if (n_values < 0 || begin < 0 || end < begin || end > n_values) {
    throw input_error("SeedLM decode: range [", begin, ", ", end, ") is not inside the ", n_values, " values");
  }
  if (static_cast<int64_t>(size) != seedlm_stream_bytes(n_values, params)) {
    throw input_error("SeedLM decode: stream has ", size, " bytes, expected ", seedlm_stream_bytes(n_values, params),
                      " for ", n_values, " values");
  }
  if (begin == end) return;
  const int C = params.C, P = params.P;
  const uint32_t mask = params.tap_mask();
  const double s = scale;
  BitReader reader(bits, size);
  const int64_t first = begin / C, last = (end - 1) / C;
  reader.seek(first * params.bits_per_block());
  float U[kSeedLMMaxC * kSeedLMMaxP];
  double recon[kSeedLMMaxC];
  SeedLMBlockCode code;
  for (int64_t b = first; b <= last; ++b) {
    read_block(reader, params, b, &code);
    seedlm_basis(params.K, mask, C, P, code.seed, U);
    seedlm_reconstruct(U, C, P, code.q, code.exponent, recon);
    const int64_t lo = std::max(begin, b * C), hi = std::min(end, b * C + C);
    for (int64_t i = lo; i < hi; ++i) out[i - begin] = static_cast<float>(s * recon[i - b * C]);
  }
}

}  // namespace seedforge
