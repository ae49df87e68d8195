// SeedLM encoding shared out between the ranks of a data-parallel run: each
// rank searches a contiguous range of a tensor's blocks, rank k of W the
// blocks [k * n / W, (k + 1) * n / W), and every rank receives all codes
// (an all-gather), so all of them hold the encoded tensor (the fine-tuning
// ranks each need the decoded embeddings they freeze). A block's code
// depends only on the block (seedlm_search.h), so the bytes are those of a
// one-process search.
#pragma once

#include <cstdint>
#include <string>

#include "codec/seedlm_codec.h"
#include "dist/process_group.h"

namespace seedforge {

// Rank `rank`'s share of n_blocks among world_size ranks: [begin, end).
struct BlockRange {
  int64_t begin = 0, end = 0;
};
BlockRange block_range_of_rank(int64_t n_blocks, int rank, int world_size);

// A block search for SeedLMEncodeOptions::search over `group`; `name` goes
// into errors and logs. Every rank must encode the same tensors in the same order.
SeedLMBlockSearch sharded_seedlm_search(DistGroup& group, const SeedLMParams& params, const std::string& name);

}  // namespace seedforge
