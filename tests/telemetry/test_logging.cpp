// setup_logging/log(): console and file sinks, their formats and levels, and
// switching files.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <regex>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/file_util.h"
#include "common/text_format.h"
#include "telemetry/logging.h"
#include "telemetry/spdlog_logger.h"

namespace seedforge {
namespace {

class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("seedforge_logging_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    setup_logging("", false);  // closes the test's files
    std::filesystem::remove_all(dir_);
  }
  std::string file(const char* name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

const std::string kStamp = R"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3})";

bool has_line(const std::string& text, const std::string& line_pattern) {
  return std::regex_search(text, std::regex("(^|\n)" + line_pattern + "\n"));
}

TEST_F(LoggingTest, FileGetsTimestampLevelAndDebugLines) {
  setup_logging(file("run.log"), /*verbose=*/false);
  log()->info("hello {}", 42);
  log()->debug("detail {:.3f}", 0.5);
  log()->warn("careful");
  log()->flush();
  const std::string text = read_file_text(file("run.log"));
  EXPECT_TRUE(has_line(text, kStamp + R"( \[info\] hello 42)")) << text;
  EXPECT_TRUE(has_line(text, kStamp + R"( \[debug\] detail 0\.500)")) << text;
  EXPECT_TRUE(has_line(text, kStamp + R"( \[warning\] careful)")) << text;
}

TEST_F(LoggingTest, PlainStringLinesKeepTheirLevelAndBraces) {
  // log_message is what libtorch code uses: the text goes through as it is
  // (no format parsing, so "{}" stays), at the level asked for.
  setup_logging(file("run.log"), false);
  log_message(LogLevel::kDebug, "step 3 {}");
  log_info("top-1 " + fixed(0.514134, 5));
  log_warn("constraint not met");
  log_message(LogLevel::kError, "failed at " + scientific(0.005, 2));
  log()->flush();
  const std::string text = read_file_text(file("run.log"));
  EXPECT_TRUE(has_line(text, kStamp + R"( \[debug\] step 3 \{\})")) << text;
  EXPECT_TRUE(has_line(text, kStamp + R"( \[info\] top-1 0\.51413)")) << text;
  EXPECT_TRUE(has_line(text, kStamp + R"( \[warning\] constraint not met)")) << text;
  EXPECT_TRUE(has_line(text, kStamp + R"( \[error\] failed at 5\.00e-03)")) << text;
}

TEST_F(LoggingTest, InfoLinesReachTheFileWithoutAnExplicitFlush) {
  setup_logging(file("run.log"), false);
  log()->info("visible at once");
  EXPECT_NE(read_file_text(file("run.log")).find("visible at once"), std::string::npos);
}

TEST_F(LoggingTest, ConsoleIsPlainAndHidesDebugUnlessVerbose) {
  ::testing::internal::CaptureStderr();
  setup_logging(file("run.log"), /*verbose=*/false);
  log()->info("to the console");
  log()->debug("not on the console");
  log()->flush();
  std::string console = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(console, "[info] to the console\n");

  ::testing::internal::CaptureStderr();
  setup_logging(file("run.log"), /*verbose=*/true);
  log()->debug("now shown");
  log()->flush();
  console = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(console, "[debug] now shown\n");
}

TEST_F(LoggingTest, SetupAgainSwitchesFilesForEarlierLoggerHandles) {
  const std::shared_ptr<spdlog::logger> held = log();
  setup_logging(file("first.log"), false);
  held->info("one");
  setup_logging(file("second.log"), false);
  held->info("two");
  spdlog::info("three");  // the default logger is the same one
  log()->flush();
  const std::string first = read_file_text(file("first.log"));
  const std::string second = read_file_text(file("second.log"));
  EXPECT_NE(first.find("one"), std::string::npos);
  EXPECT_EQ(first.find("two"), std::string::npos);
  EXPECT_EQ(second.find("one"), std::string::npos);
  EXPECT_NE(second.find("two"), std::string::npos);
  EXPECT_NE(second.find("three"), std::string::npos);
}

TEST_F(LoggingTest, ReopeningAppends) {
  setup_logging(file("run.log"), false);
  log()->info("before");
  setup_logging(file("run.log"), false);
  log()->info("after");
  const std::string text = read_file_text(file("run.log"));
  EXPECT_NE(text.find("before"), std::string::npos);
  EXPECT_NE(text.find("after"), std::string::npos);
}

TEST_F(LoggingTest, MissingFolderIsAUsageErrorNamingIt) {
  const std::string path = file("no_such_folder/run.log");
  try {
    setup_logging(path, false);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST_F(LoggingTest, ListenerHearsLinesAtItsLevelThroughSetupAndStopsWithItsScope) {
  std::vector<std::pair<LogLevel, std::string>> heard;
  {
    ScopedLogListener listener([&](LogLevel level, const std::string& m) { heard.emplace_back(level, m); },
                               LogLevel::kInfo);
    log_message(LogLevel::kDebug, "too quiet");
    log_info("one");
    // A new log file replaces the console and file sinks, not the listener.
    setup_logging(file("run.log"), true);
    log()->warn("two {}", 2);  // the spdlog logger itself, as torch-free code logs
  }
  log_info("after the scope");
  ASSERT_EQ(heard.size(), 2u);
  EXPECT_EQ(heard[0], std::make_pair(LogLevel::kInfo, std::string("one")));
  EXPECT_EQ(heard[1], std::make_pair(LogLevel::kWarn, std::string("two 2")));
  EXPECT_NE(read_file_text(file("run.log")).find("after the scope"), std::string::npos);
}

}  // namespace
}  // namespace seedforge
