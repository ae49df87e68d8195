// Fuzz target: a Hugging Face model folder, fuzzed on the two JSON files that
// steer it: config.json and the shard index. The shards themselves are fixed,
// valid files written once (tiny_model.h; fuzz_safetensors and fuzz_pt_file
// cover bad shards), so that the fuzzer spends its time on the index logic:
// shard name checks, tensors looked up in shards, the config checked against
// the weights.
//
// Input layout: one flag byte (bit 0: pytorch_model.bin.index.json with .bin
// shards, else model.safetensors.index.json with .safetensors shards), then
// config.json, a NUL byte, the index JSON.
#include <torch/torch.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>

#include "fuzz_util.h"
#include "tiny_model.h"
#include "io/hf_folder.h"
#include "io/pt_state_dict.h"
#include "io/safetensors.h"

namespace {

namespace fs = std::filesystem;

void write_shards(const fs::path& dir) {
  using seedforge::fuzz::hf_shard;
  for (int i = 0; i < 2; ++i) {
    seedforge::write_safetensors((dir / seedforge::fuzz::kSafetensorsShards[i]).string(), hf_shard(i));
    seedforge::save_pt_state_dict((dir / seedforge::fuzz::kPtShards[i]).string(), hf_shard(i));
  }
}

const fs::path& model_dir() {
  static const fs::path dir = seedforge::fuzz::scratch_dir() / "model";
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);  // fuzzing runs -j1 next to other work
  fs::create_directories(model_dir());
  write_shards(model_dir());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool pt_shards = (data[0] & 1) != 0;
  const char* rest = reinterpret_cast<const char*>(data + 1);
  const size_t rest_size = size - 1;
  const void* nul = std::memchr(rest, '\0', rest_size);
  const size_t config_size = nul != nullptr ? static_cast<size_t>(static_cast<const char*>(nul) - rest) : rest_size;
  const size_t index_offset = nul != nullptr ? config_size + 1 : rest_size;
  seedforge::fuzz::write_file("model/config.json", rest, config_size);
  const char* index_name = pt_shards ? "pytorch_model.bin.index.json" : "model.safetensors.index.json";
  const char* other_name = pt_shards ? "model.safetensors.index.json" : "pytorch_model.bin.index.json";
  std::error_code ec;
  fs::remove(model_dir() / other_name, ec);  // the loader takes the first index it finds
  seedforge::fuzz::write_file(std::string("model/") + index_name, rest + index_offset, rest_size - index_offset);
  seedforge::fuzz::expect_clean_errors([&] { (void)seedforge::load_hf_folder(model_dir().string()); });
  return 0;
}
