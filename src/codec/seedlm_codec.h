// SeedLM tensor codec: a float tensor (any shape, flattened row-major) to a
// per-tensor fp32 scale plus a packed bitstream of blocks, and back.
// The stream layout is specified in docs/FORMAT.md, "SeedLM bitstream":
// blocks in order, each block's fields seed (K bits), exponent (E bits, two's
// complement), q_0 .. q_{P-1} (Q bits each, two's complement), least significant
// bit first into consecutive bytes, no padding between blocks, the stream ending
// on a whole byte.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "codec/seedlm_fit.h"
#include "codec/seedlm_params.h"
#include "codec/seedlm_search.h"

namespace seedforge {

struct SeedLMTensor {
  float scale = 1.0f;  // decoded = scale * U(seed) (q * 2^e)
  int64_t n_values = 0;
  std::vector<uint8_t> bits;  // seedlm_stream_bytes(n_values, params) bytes
};

// Searches n_blocks scaled blocks into out[n_blocks], giving seedlm_search()'s
// result (e.g. shared out between processes, pipeline/sharded_seedlm.h).
using SeedLMBlockSearch = std::function<void(const float* blocks, int64_t n_blocks, SeedLMBlockCode* out)>;

struct SeedLMEncodeOptions {
  std::string name;          // tensor name for error messages
  SeedLMProgress progress;   // (blocks done, blocks total) on the calling thread
  SeedLMSearchStats* stats = nullptr;
  SeedLMBlockSearch search;  // empty = seedlm_search() here (progress and stats apply to that only)
};

// The per-tensor scale (docs/FORMAT.md): scale = max|w| / ((2^(Q-1) - 1/2) * 2^e_top)
// with e_top = min(3, emax - (E - 2)), so the largest scaled weight is the
// largest magnitude exponent e_top holds without clamping. For Q = E = 4 that
// is 60, leaving four exponents (16x) of headroom for least-squares coefficients
// larger than the weights and eleven exponents below; E=3 and E=2 keep 1 and 0
// exponents of headroom (measured: fewer exponents are better spent below).
// The rule follows the data's magnitude, so tiny weights keep their relative
// accuracy. 1 for an all-zero tensor; never below FLT_MIN. w must be finite.
float seedlm_tensor_scale(const float* w, int64_t n, const SeedLMParams& params);

int64_t seedlm_block_count(int64_t n_values, const SeedLMParams& params);
int64_t seedlm_stream_bytes(int64_t n_values, const SeedLMParams& params);

// Throws usage_error on bad params, input_error on NaN/Inf weights (naming the tensor and index).
SeedLMTensor seedlm_encode(const float* w, int64_t n, const SeedLMParams& params,
                           const SeedLMEncodeOptions& options = {});

// out: tensor.n_values floats. Throws input_error on a stream of the wrong size
// or a zero seed. params must be those used to encode (not stored in the stream).
void seedlm_decode(const SeedLMTensor& tensor, const SeedLMParams& params, float* out);

// Values [begin, end) of a stream of n_values values (out: end - begin floats),
// the same bits seedlm_decode gives them: only the blocks covering the range are
// read, so one row of a large matrix decodes in microseconds (the inference
// engine's embedding lookup). `size` must be the stream's full size. Throws
// input_error on a wrong size, a range outside [0, n_values] or a zero seed.
void seedlm_decode_range(const uint8_t* bits, size_t size, int64_t n_values, float scale, const SeedLMParams& params,
                         int64_t begin, int64_t end, float* out);

// The stream layout alone.
std::vector<uint8_t> seedlm_pack_blocks(const SeedLMBlockCode* codes, int64_t n_blocks, const SeedLMParams& params);
std::vector<SeedLMBlockCode> seedlm_unpack_blocks(const uint8_t* bytes, size_t size, int64_t n_blocks,
                                                  const SeedLMParams& params);

}  // namespace seedforge
