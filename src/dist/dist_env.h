// Where this process sits in a data-parallel run, read from the environment
// that torchrun (and `stage1 --nproc N`, local_launch.h) sets:
//   RANK         this process, 0 .. WORLD_SIZE-1 (rank 0 writes every output)
//   LOCAL_RANK   this process on its machine (picks the GPU on CUDA)
//   WORLD_SIZE   processes in the run; unset or 1 = a single process
//   MASTER_ADDR  host of rank 0's rendezvous store (TCPStore)
//   MASTER_PORT  its port
// Torch-free.
#pragma once

#include <cstdint>
#include <string>

namespace seedforge {

struct DistEnv {
  int rank = 0;
  int local_rank = 0;
  int world_size = 1;
  std::string master_addr;  // "" when world_size == 1
  int master_port = 0;

  bool distributed() const { return world_size > 1; }
  bool writes_outputs() const { return rank == 0; }
};

// The variables above from this process's environment. WORLD_SIZE unset (or
// 1) is a single process whatever else is set. A malformed or inconsistent
// value is a usage_error naming the variable and its value.
DistEnv dist_env_from_environment();

// Where rank > 0 of a data-parallel run logs instead of `log_file`:
// "out/stage1_compression.log" -> "out/stage1_compression.rank-1.log".
std::string rank_log_file(const std::string& log_file, int rank);

// The same from a lookup (name -> value, nullptr when unset); for tests.
DistEnv dist_env_from(const char* (*lookup)(const char* name));

}  // namespace seedforge
