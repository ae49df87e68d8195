// SeedLM seed search: for each block, the seed (with its exponent and
// mantissas, seedlm_fit.h) of least error over all searched seeds; among equal
// errors the lowest seed. The fast search prunes with a bound that is proven
// (SeedLMSeedTable::margin_rel) never to exceed a seed's error, so it returns
// exactly what the naive search over every seed returns.
#pragma once

#include <cstdint>
#include <functional>

#include "codec/seedlm_fit.h"
#include "codec/seedlm_params.h"
#include "codec/seedlm_scan.h"
#include "codec/seedlm_seed_table.h"

namespace seedforge {

struct SeedLMSearchStats {
  int64_t blocks = 0;
  int64_t zero_blocks = 0;  // all-zero blocks: the lowest seed, no search
  int64_t fits = 0;         // exact fits evaluated (probe + candidates)
};

// Called on the calling thread, about every 100 ms and once at the end.
using SeedLMProgress = std::function<void(int64_t blocks_done, int64_t blocks_total)>;

// blocks: n_blocks x C values already divided by the tensor scale.
// Single-threaded core: blocks in tiles of kernel.lanes. use_slide = false
// scans an exhaustive table with the direct kernel only (for tests and benchmarks).
void seedlm_search_range(const SeedLMSeedTable& table, const SeedLMParams& params, const SeedLMScanKernel& kernel,
                         const float* blocks, int64_t n_blocks, SeedLMBlockCode* out,
                         SeedLMSearchStats* stats = nullptr, bool use_slide = true);

// All blocks on params.threads threads (0 = all cores); the result does not
// depend on the thread count or the kernel's instruction set.
void seedlm_search(const float* blocks, int64_t n_blocks, const SeedLMParams& params, SeedLMBlockCode* out,
                   const SeedLMProgress& progress = nullptr, SeedLMSearchStats* stats = nullptr);

// The reference: fits every seed of the table, keeps the least error (lowest seed on ties).
SeedLMBlockCode seedlm_search_block_naive(const SeedLMSeedTable& table, const SeedLMParams& params,
                                          const float* block);

}  // namespace seedforge
