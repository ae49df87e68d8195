#include "pipeline/sharded_seedlm.h"

#include <cstring>
#include <vector>

#include "codec/seedlm_search.h"
#include "common/error.h"
#include "telemetry/logging.h"

namespace seedforge {

BlockRange block_range_of_rank(int64_t n_blocks, int rank, int world_size) {
  // Products in 128 bits would be exact; n_blocks * world_size fits int64
  // for any tensor that fits memory (2^40 values / 8 per block * 2^20 ranks).
  return {n_blocks * rank / world_size, n_blocks * (rank + 1) / world_size};
}

SeedLMBlockSearch sharded_seedlm_search(DistGroup& group, const SeedLMParams& params, const std::string& name) {
  return [&group, params, name](const float* blocks, int64_t n_blocks, SeedLMBlockCode* out) {
    const BlockRange mine = block_range_of_rank(n_blocks, group.rank(), group.world_size());
    std::vector<SeedLMBlockCode> codes(static_cast<size_t>(mine.end - mine.begin));
    seedlm_search(blocks + mine.begin * params.C, mine.end - mine.begin, params, codes.data());
    log_message(LogLevel::kDebug, concat("sharded SeedLM search of ", name, ": blocks ", mine.begin, " .. ", mine.end,
                                         " of ", n_blocks, " on rank ", group.rank(), " of ", group.world_size()));
    // The codes travel as bytes: every rank runs the same executable, so the
    // struct layout is the same on all of them.
    const int64_t bytes = int64_t(codes.size() * sizeof(SeedLMBlockCode));
    torch::Tensor mine_bytes = torch::empty({bytes}, torch::kUInt8);
    if (bytes > 0) std::memcpy(mine_bytes.data_ptr<uint8_t>(), codes.data(), size_t(bytes));
    const std::vector<torch::Tensor> all = group.all_gather_varying(mine_bytes, "the SeedLM search of " + name);
    for (int r = 0; r < group.world_size(); ++r) {
      const BlockRange range = block_range_of_rank(n_blocks, r, group.world_size());
      const int64_t expected = (range.end - range.begin) * int64_t(sizeof(SeedLMBlockCode));
      const torch::Tensor& got = all[size_t(r)];
      if (got.numel() != expected) {
        throw runtime_error("sharded SeedLM search of ", name, ": rank ", r, " sent ", got.numel(), " bytes, expected ",
                            expected, " (do all ranks run the same build and config?)");
      }
      if (expected > 0) std::memcpy(out + range.begin, got.contiguous().data_ptr<uint8_t>(), size_t(expected));
    }
  };
}

}  // namespace seedforge
