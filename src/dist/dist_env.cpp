#include "dist/dist_env.h"

#include <cstdlib>

#include "common/error.h"

namespace seedforge {

namespace {

// A whole decimal number in [lo, hi], else a usage_error naming the variable.
int env_int(const char* (*lookup)(const char*), const char* name, int lo, int hi, const char* hint) {
  const char* text = lookup(name);
  if (text == nullptr || *text == '\0') throw usage_error(name, " is not set: ", hint);
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < lo || value > hi) {
    throw usage_error(name, "=\"", text, "\" is not a whole number in [", lo, ", ", hi, "]: ", hint);
  }
  return static_cast<int>(value);
}

const char* getenv_lookup(const char* name) { return std::getenv(name); }

}  // namespace

DistEnv dist_env_from(const char* (*lookup)(const char* name)) {
  DistEnv env;
  const char* world = lookup("WORLD_SIZE");
  if (world == nullptr || *world == '\0') return env;
  const char* hint = "a data-parallel run (WORLD_SIZE > 1) needs RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT, as torchrun sets them";
  env.world_size = env_int(lookup, "WORLD_SIZE", 1, 1 << 20, hint);
  if (env.world_size == 1) return env;
  env.rank = env_int(lookup, "RANK", 0, env.world_size - 1, hint);
  // LOCAL_RANK only picks a GPU; launchers that run one process per machine may leave it out.
  env.local_rank = lookup("LOCAL_RANK") == nullptr ? 0 : env_int(lookup, "LOCAL_RANK", 0, env.world_size - 1, hint);
  const char* addr = lookup("MASTER_ADDR");
  if (addr == nullptr || *addr == '\0') throw usage_error("MASTER_ADDR is not set: ", hint);
  env.master_addr = addr;
  env.master_port = env_int(lookup, "MASTER_PORT", 1, 65535, hint);
  return env;
}

std::string rank_log_file(const std::string& log_file, int rank) {
  const std::string tag = ".rank-" + std::to_string(rank);
  const size_t slash = log_file.find_last_of('/');
  const size_t dot = log_file.find_last_of('.');
  // Before the extension of the file name (not a dot in a folder name).
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash) || dot == slash + 1) return log_file + tag;
  return log_file.substr(0, dot) + tag + log_file.substr(dot);
}

DistEnv dist_env_from_environment() { return dist_env_from(&getenv_lookup); }

}  // namespace seedforge
