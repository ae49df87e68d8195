// The torchrun environment as dist_env.h reads it, the rank log names, and
// the command line the local launcher gives its workers.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/error.h"
#include "dist/dist_env.h"
#include "dist/local_launch.h"

using namespace seedforge;

namespace {

std::map<std::string, std::string>& fake_env() {
  static std::map<std::string, std::string> env;
  return env;
}

const char* fake_lookup(const char* name) {
  auto it = fake_env().find(name);
  return it == fake_env().end() ? nullptr : it->second.c_str();
}

// The usage_error message of dist_env_from(fake_env()), "" when it parses.
std::string error_of(const std::map<std::string, std::string>& env) {
  fake_env() = env;
  try {
    dist_env_from(&fake_lookup);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage) << e.what();
    return e.what();
  }
  return "";
}

}  // namespace

TEST(DistEnv, NoWorldSizeIsOneProcess) {
  fake_env() = {{"RANK", "3"}, {"MASTER_ADDR", "10.0.0.1"}};
  const DistEnv env = dist_env_from(&fake_lookup);
  EXPECT_EQ(env.world_size, 1);
  EXPECT_EQ(env.rank, 0);
  EXPECT_FALSE(env.distributed());
  EXPECT_TRUE(env.writes_outputs());
  fake_env() = {{"WORLD_SIZE", "1"}};
  EXPECT_FALSE(dist_env_from(&fake_lookup).distributed());
}

TEST(DistEnv, ReadsTorchrunVariables) {
  fake_env() = {{"WORLD_SIZE", "16"}, {"RANK", "9"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "node0"}, {"MASTER_PORT", "29500"}};
  const DistEnv env = dist_env_from(&fake_lookup);
  EXPECT_EQ(env.world_size, 16);
  EXPECT_EQ(env.rank, 9);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "node0");
  EXPECT_EQ(env.master_port, 29500);
  EXPECT_TRUE(env.distributed());
  EXPECT_FALSE(env.writes_outputs());
}

TEST(DistEnv, BadValuesNameTheVariable) {
  const std::map<std::string, std::string> good = {
      {"WORLD_SIZE", "2"}, {"RANK", "1"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}};
  EXPECT_EQ(error_of(good), "");
  auto with = [&](const std::string& key, const std::string& value) {
    auto env = good;
    env[key] = value;
    return env;
  };
  auto without = [&](const std::string& key) {
    auto env = good;
    env.erase(key);
    return env;
  };
  EXPECT_NE(error_of(with("WORLD_SIZE", "two")).find("WORLD_SIZE=\"two\""), std::string::npos);
  EXPECT_NE(error_of(with("WORLD_SIZE", "0")).find("WORLD_SIZE=\"0\""), std::string::npos);
  EXPECT_NE(error_of(with("RANK", "2")).find("RANK=\"2\" is not a whole number in [0, 1]"), std::string::npos);
  EXPECT_NE(error_of(with("RANK", "-1")).find("RANK=\"-1\""), std::string::npos);
  EXPECT_NE(error_of(with("MASTER_PORT", "70000")).find("MASTER_PORT=\"70000\""), std::string::npos);
  EXPECT_NE(error_of(with("MASTER_PORT", "29500x")).find("MASTER_PORT"), std::string::npos);
  EXPECT_NE(error_of(without("RANK")).find("RANK is not set"), std::string::npos);
  EXPECT_NE(error_of(without("MASTER_ADDR")).find("MASTER_ADDR is not set"), std::string::npos);
  EXPECT_NE(error_of(without("MASTER_PORT")).find("MASTER_PORT is not set"), std::string::npos);
  EXPECT_EQ(error_of(without("LOCAL_RANK")), "");  // optional: it only picks a GPU
}

TEST(DistEnv, RankLogFileGoesBeforeTheExtension) {
  EXPECT_EQ(rank_log_file("out/stage1_compression.log", 1), "out/stage1_compression.rank-1.log");
  EXPECT_EQ(rank_log_file("stage1_compression.log", 12), "stage1_compression.rank-12.log");
  EXPECT_EQ(rank_log_file("run.d/log", 2), "run.d/log.rank-2");
  EXPECT_EQ(rank_log_file("/tmp/.hidden", 3), "/tmp/.hidden.rank-3");
}

TEST(LocalLaunch, WorkersGetTheCommandLineWithoutNproc) {
  const char* args[] = {"stage1", "--threads", "1", "--nproc", "2", "finetune", "--nproc=4", "--input", "m.bin"};
  const std::vector<std::string> out = without_nproc(9, const_cast<char**>(args));
  EXPECT_EQ(out, (std::vector<std::string>{"stage1", "--threads", "1", "finetune", "--input", "m.bin"}));
  const int port = free_loopback_port();
  EXPECT_GT(port, 0);
  EXPECT_LE(port, 65535);
}
