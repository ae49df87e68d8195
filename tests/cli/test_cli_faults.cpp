// `stage1` under bad input and faults, as a user meets them: each test runs
// the binary (STAGE1_BIN) on stories260K with a small config and checks the
// message, the exit code and what is left on disk against its row in
// reliability_cases.h; the last test checks that docs/RELIABILITY.md shows
// exactly those rows. Runs are stopped at named fault points
// (SEEDFORGE_FAULT_PAUSE, common/fault_point.h) announced on stderr, so no
// test depends on the machine's speed; every wait is bounded.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <regex>
#include <thread>

#include "../pipeline/pipeline_test_util.h"
#include "../telemetry/raw_http_client.h"
#include "cli/reliability_cases.h"
#include "common/error.h"
#include "common/file_util.h"
#include "test_util.h"

using namespace seedforge;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kLongest = std::chrono::seconds(300);  // a bound, not an expectation

// One stage1 process, started with fork/exec so that the test is its parent:
// it can signal it, wait for it and see how it ended.
class Stage1Process {
 public:
  // `args` after the binary; `pause_at` names a fault point; `shell` goes
  // before the exec (ulimit, trap).
  Stage1Process(const std::string& args, const std::string& log, const std::string& pause_at = "",
                const std::string& shell = "")
      : log_(log) {
    const std::string command = shell + (pause_at.empty() ? "" : " SEEDFORGE_FAULT_PAUSE='" + pause_at + "'") +
                                " exec " + test::stage1_binary() + " " + args;
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Stage1Process() {
    if (pid_ > 0 && status_ < -1000) {  // a failed test left it running
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  int pid() const { return pid_; }
  std::string output() const { return test::run_command("cat " + log_).output; }

  // True once `text` is in the output; false if the process ended first or the bound passed.
  bool wait_for(const std::string& text) {
    const auto end = Clock::now() + kLongest;
    while (Clock::now() < end) {
      if (output().find(text) != std::string::npos) return true;
      if (finished()) return output().find(text) != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  bool wait_for_fault_point(const std::string& name) { return wait_for("fault point '" + name + "' reached"); }

  void signal(int sig) { ::kill(pid_, sig); }

  // The exit code, or -N when signal N ended it; kills it after the bound.
  int wait() {
    const auto end = Clock::now() + kLongest;
    while (!finished() && Clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!finished()) {
      ADD_FAILURE() << "stage1 still running after " << kLongest.count() << " s:\n" << output();
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      status_ = -1;
    }
    return status_;
  }

 private:
  bool finished() {
    if (status_ > -1000) return true;
    int raw = 0;
    if (::waitpid(pid_, &raw, WNOHANG) != pid_) return false;
    status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : -WTERMSIG(raw);
    return true;
  }

  std::string log_;
  pid_t pid_ = -1;
  int status_ = -10000;  // not finished
};

test::CommandResult stage1(const std::string& args) { return test::run_command(test::stage1_binary() + " " + args); }

std::string run_args(const std::string& input, const std::string& output, const std::string& config) {
  return "--input " + input + " --output " + output + " --config " + config;
}

// The files named after `output` (and the checkpoint folder's content), as
// reliability_cases.h spells them: "<output>.tmp.<pid>; <output>.lock".
std::string left_on_disk(const std::string& output) {
  const fs::path path(output);
  const std::string base = path.filename().string();
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(path.parent_path())) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(base, 0) != 0) continue;
    const std::string shown =
        std::regex_replace("<output>" + name.substr(base.size()), std::regex(R"(\.tmp\.\d+$)"), ".tmp.<pid>");
    if (entry.is_directory()) {
      for (const auto& inner : fs::directory_iterator(entry.path()))
        names.push_back(shown + "/" + inner.path().filename().string());
    } else {
      names.push_back(shown);
    }
  }
  std::sort(names.begin(), names.end());
  std::string joined;
  for (const auto& n : names) joined += (joined.empty() ? "" : "; ") + n;
  return joined;
}

// A case's `left` without its notes in parentheses.
std::string listed(const test::ReliabilityCase& c) {
  return std::regex_replace(c.left, std::regex(R"( \([^)]*\))"), "");
}

// The checks every case shares: exit code, message, files left.
void expect_case(const std::string& id, int exit_code, const std::string& output, const std::string& out_path) {
  const test::ReliabilityCase& c = test::reliability_case(id);
  EXPECT_EQ(exit_code, c.exit_code) << id << ":\n" << output;
  EXPECT_NE(output.find(c.message), std::string::npos) << id << ": expected \"" << c.message << "\" in:\n" << output;
  EXPECT_EQ(left_on_disk(out_path), listed(c)) << id << ":\n" << output;
}

std::string bytes_of(const std::string& path) { return test::run_command("cat " + path, true).output; }

// A folder with the tiny config (8 steps, no periodic checkpoints) and
// stories260K's tokenizer, for copies of the model to sit beside.
struct Workspace {
  test::TempDir dir;
  std::string config = dir.file("c.json");
  std::string output = dir.file("m.stage1.pt");
  Workspace() {
    test::write_text(config, test::tiny_config_json(8, 8, 0));
    fs::copy_file(test::stories_tokenizer(), dir.file("tok512.bin"));
  }
  std::string args(const std::string& extra = "") const {
    return run_args(test::stories_model(), output, config) + (extra.empty() ? "" : " " + extra);
  }
  // A copy of stories260K.bin with `edit` applied to its bytes.
  std::string model_copy(const std::string& name, const std::function<void(std::string&)>& edit) const {
    std::string bytes = bytes_of(test::stories_model());
    edit(bytes);
    test::write_text(dir.file(name), bytes);
    return dir.file(name);
  }
};

}  // namespace

TEST(CliFaults, BadInputIsRefusedWithAClearMessage) {
  Workspace w;
  auto run = [&](const std::string& id, const std::string& args) {
    const auto r = stage1(args);
    expect_case(id, r.exit_code, r.output, w.output);
  };
  run("missing-input", run_args(w.dir.file("missing.bin"), w.output, w.config));
  const std::string truncated = w.model_copy("truncated.bin", [](std::string& b) { b.resize(b.size() - 100); });
  run("truncated-input", run_args(truncated, w.output, w.config));
  // The llama2.c header: dim, hidden_dim, n_layers, ... as int32.
  const std::string layers = w.model_copy("layers.bin", [](std::string& b) { b[8] = 6; });
  run("shape-mismatch", run_args(layers, w.output, w.config));
  const std::string nan = w.model_copy("nan.bin", [](std::string& b) {
    const float value = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(&b[28 + 4 * 1000], &value, 4);  // a weight of the embedding
  });
  run("nan-weights", run_args(nan, w.output, w.config));

  test::write_text(w.dir.file("unknown.json"), R"({"bitnet": {"lrr": 0.1}})");
  test::write_text(w.dir.file("type.json"), R"({"bitnet": {"lr": "fast"}})");
  test::write_text(w.dir.file("range.json"), R"({"bitnet": {"warmup_fraction": 1.5}})");
  run("unknown-config-key", run_args(test::stories_model(), w.output, w.dir.file("unknown.json")));
  run("wrong-config-type", run_args(test::stories_model(), w.output, w.dir.file("type.json")));
  run("config-out-of-range", run_args(test::stories_model(), w.output, w.dir.file("range.json")));
  run("missing-output-folder", run_args(test::stories_model(), w.dir.file("no/such/m.stage1.pt"), w.config));
  test::write_text(w.dir.file("no-train.json"),
                   R"({"bitnet": {"max_steps": 2, "train_text": [")" + w.dir.file("nowhere.txt") + R"("]}})");
  run("missing-train-text", run_args(test::stories_model(), w.output, w.dir.file("no-train.json")));
  // A folder over the TinyStories texts takes valid.txt, the default eval.text, in.
  test::write_text(w.dir.file("eval-train.json"),
                   R"({"bitnet": {"max_steps": 2, "train_text": [")" + data_path("text/tinystories") + R"("]}})");
  run("train-text-is-eval-text", run_args(test::stories_model(), w.output, w.dir.file("eval-train.json")));
  {
    const auto r = test::run_command("SEEDFORGE_ISA=sse9 " + test::stage1_binary() + " " + w.args());
    expect_case("unsupported-isa", r.exit_code, r.output, w.output);
  }

  fs::create_directory(w.dir.file("ro"));
  fs::permissions(w.dir.file("ro"), fs::perms::owner_read | fs::perms::owner_exec);
  if (::access(w.dir.file("ro").c_str(), W_OK) != 0) {  // root may write anyway
    const auto r = stage1(run_args(test::stories_model(), w.dir.file("ro/m.stage1.pt"), w.config));
    expect_case("read-only-output-folder", r.exit_code, r.output, w.dir.file("ro/m.stage1.pt"));
  }
  fs::permissions(w.dir.file("ro"), fs::perms::owner_all);

  test::write_text(w.dir.file("bad.stage1.pt"), "PK\x03\x04 not really a zip");
  run("corrupt-stage1-file", "inspect " + w.dir.file("bad.stage1.pt"));
  run("resume-without-checkpoint", w.args("--resume"));
}

TEST(CliFaults, FailedWriteLeavesTheEarlierFileAndNoTemporary) {
  Workspace w;
  test::write_text(w.output, "an earlier model");
  // A file-size limit of 64 blocks (32 KiB in dash's 512-byte blocks, 64 KiB
  // in bash's): the log fits, the ~100 KB model does not. SIGXFSZ ignored,
  // so write() fails with EFBIG instead of killing the process.
  Stage1Process run(w.args(), w.dir.file("log"), "", "ulimit -f 64 && trap '' XFSZ &&");
  const int code = run.wait();
  expect_case("write-fails", code, run.output(), w.output);
  EXPECT_NE(run.output().find("cannot write '" + w.output + "'"), std::string::npos) << run.output();
  EXPECT_EQ(bytes_of(w.output), "an earlier model");
}

TEST(CliFaults, InterruptWritesACheckpointAndResumeContinues) {
  for (const int sig : {SIGINT, SIGTERM}) {
    Workspace w;
    Stage1Process run(w.args(), w.dir.file("log"), "fine-tuning");
    ASSERT_TRUE(run.wait_for_fault_point("fine-tuning")) << run.output();
    run.signal(sig);
    const int code = run.wait();
    expect_case(sig == SIGINT ? "sigint-fine-tuning" : "sigterm-fine-tuning", code, run.output(), w.output);
    EXPECT_NE(run.output().find("rerun the same command with --resume to continue from step 5"), std::string::npos)
        << run.output();
    if (sig == SIGTERM) continue;

    // A changed model config is refused; the checkpoint stays.
    test::write_text(w.dir.file("changed.json"), test::tiny_config_json(8, 4, 0));
    auto r = stage1(run_args(test::stories_model(), w.output, w.dir.file("changed.json")) + " --resume");
    expect_case("resume-changed-config", r.exit_code, r.output, w.output);

    r = stage1(w.args("--resume"));
    expect_case("resume-after-interrupt", r.exit_code, r.output, w.output);
    EXPECT_NE(r.output.find("resumed from " + w.output + ".checkpoints/bitnet_checkpoint.pt at step 5 of 8"),
              std::string::npos)
        << r.output;
  }
}

TEST(CliFaults, InterruptOutsideFineTuningStopsAtTheNextStage) {
  Workspace w;
  Stage1Process run(w.args(), w.dir.file("log"), "load");
  ASSERT_TRUE(run.wait_for_fault_point("load")) << run.output();
  run.signal(SIGINT);
  const int code = run.wait();  // before output(): argument order is unspecified
  expect_case("sigint-before-stage", code, run.output(), w.output);
}

TEST(CliFaults, KillNineNeverLeavesAPartialOutput) {
  Workspace w;
  // Points: as loading starts, halfway through fine-tuning, as encoding
  // starts, and with the output's temporary half written.
  const std::vector<std::pair<std::string, std::string>> points = {{"load", "kill-load"},
                                                                   {"fine-tuning", "kill-fine-tuning"},
                                                                   {"encoding", "kill-encoding"},
                                                                   {"partial output", "kill-writing"}};
  for (const auto& [point, id] : points) {
    if (id == "kill-writing") test::write_text(w.output, "an earlier model");
    Stage1Process run(w.args(), w.dir.file("log-" + id), point);
    ASSERT_TRUE(run.wait_for_fault_point(point)) << run.output();
    if (id == "kill-writing") {
      ASSERT_TRUE(fs::exists(w.output + ".tmp." + std::to_string(run.pid()))) << left_on_disk(w.output);
    }
    run.signal(SIGKILL);
    const int code = run.wait();
    expect_case(id, code, run.output(), w.output);
    if (id == "kill-writing") {
      EXPECT_EQ(bytes_of(w.output), "an earlier model");
    }
  }
  // The next run takes over the lock and removes the dead run's temporary.
  const auto r = stage1(w.args());
  expect_case("rerun-after-kill", r.exit_code, r.output, w.output);
  EXPECT_NE(bytes_of(w.output), "an earlier model");
}

TEST(CliFaults, SecondRunOnTheSameOutputIsRefused) {
  Workspace w;
  Stage1Process first(w.args(), w.dir.file("log1"), "fine-tuning");
  ASSERT_TRUE(first.wait_for_fault_point("fine-tuning")) << first.output();
  const auto second = stage1(w.args());
  expect_case("concurrent-run", second.exit_code, second.output, w.output);
  EXPECT_NE(second.output.find("held by pid " + std::to_string(first.pid())), std::string::npos) << second.output;
  first.signal(SIGKILL);
  first.wait();
}

TEST(CliFaults, MetricsPortInUseIsRefused) {
  Workspace w;
  // Another listener on a port: this test's own socket.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  const int port = ntohs(address.sin_port);
  const auto r = stage1(w.args("--metrics-port " + std::to_string(port)));
  ::close(fd);
  expect_case("metrics-port-in-use", r.exit_code, r.output, w.output);
  EXPECT_NE(r.output.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << r.output;
}

TEST(CliFaults, HelpSaysWhereMetricsListen) {
  const auto r = stage1("--help");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--metrics-host"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("default 127.0.0.1"), std::string::npos) << r.output;
}

TEST(CliFaults, MetricsEndpointSurvivesBadRequestsDuringARun) {
  Workspace w;
  const int port = test::free_loopback_port();
  ASSERT_GT(port, 0);
  Stage1Process run(w.args("--metrics-port " + std::to_string(port)), w.dir.file("log"), "fine-tuning");
  ASSERT_TRUE(run.wait_for_fault_point("fine-tuning")) << run.output();
  EXPECT_NE(run.output().find("serving Prometheus metrics on http://127.0.0.1:" + std::to_string(port)),
            std::string::npos);
  auto status_of = [&](const std::string& request) {
    const std::string response = test::http_exchange(port, request);
    return response.substr(0, response.find("\r\n"));
  };
  EXPECT_EQ(status_of("garbage\r\n\r\n"), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_of("GET /metrics HTTP/7\r\n\r\n"), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_of("POST /metrics HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"), "HTTP/1.1 413 Payload Too Large");
  const std::string huge = status_of("GET /metrics HTTP/1.1\r\nX: " + std::string(50000, 'x') + "\r\n\r\n");
  EXPECT_TRUE(huge.empty() || huge == "HTTP/1.1 431 Request Header Fields Too Large") << huge;
  // Slow and silent clients, more than the server keeps open at once.
  std::vector<test::LoopbackSocket> idle;
  for (int i = 0; i < 100; ++i) idle.emplace_back(port);
  test::LoopbackSocket trickle(port);
  trickle.send_all("GE");
  // A scrape is still answered, with the fine-tuning's progress so far.
  const std::string ok = test::http_exchange(port, "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(ok.substr(0, 15), "HTTP/1.1 200 OK") << ok;
  EXPECT_NE(ok.find("\nseedforge_stage1_step 4\n"), std::string::npos) << ok;

  run.signal(SIGUSR1);  // go on from the fault point, the slow clients still connected
  const int code = run.wait();
  expect_case("metrics-bad-requests", code, run.output(), w.output);
}

// docs/RELIABILITY.md's table is reliability_cases() rendered, and every case
// is exercised by a test. SEEDFORGE_UPDATE_DOCS=1 rewrites the table.
TEST(CliFaults, ReliabilityDocMatchesTheTestedCases) {
  std::string table =
      "| situation | what the user sees (contains) | exit code | left on disk | case |\n"
      "|---|---|---|---|---|\n";
  for (const test::ReliabilityCase& c : test::reliability_cases()) {
    const std::string message =
        std::string(c.message).empty() ? "nothing (the process is gone)" : concat("`", c.message, "`");
    const std::string code = c.exit_code == -9 ? "killed (SIGKILL)" : std::to_string(c.exit_code);
    const std::string left = std::string(c.left).empty()
                                 ? "nothing"
                                 : std::regex_replace(std::string(c.left), std::regex("(<output>[^ ;]*)"), "`$1`");
    table += concat("| ", c.situation, " | ", message, " | ", code, " | ", left, " | `", c.id, "` |\n");
  }
  const std::string path = std::string(SEEDFORGE_SOURCE_DIR) + "/docs/RELIABILITY.md";
  const std::string begin = "<!-- reliability-table:begin -->\n", end = "<!-- reliability-table:end -->";
  std::string doc = read_file_text(path);
  const size_t a = doc.find(begin), b = doc.find(end);
  ASSERT_TRUE(a != std::string::npos && b != std::string::npos && a < b) << path << " lacks the table markers";
  const std::string current = doc.substr(a + begin.size(), b - a - begin.size());
  if (current != table && std::getenv("SEEDFORGE_UPDATE_DOCS") != nullptr) {
    doc.replace(a + begin.size(), b - a - begin.size(), table);
    test::write_text(path, doc);
    return;
  }
  EXPECT_EQ(current, table) << path
                            << " is out of date with tests/cli/reliability_cases.h; rerun with SEEDFORGE_UPDATE_DOCS=1";

  const std::string source = read_file_text(std::string(SEEDFORGE_SOURCE_DIR) + "/tests/cli/test_cli_faults.cpp");
  for (const test::ReliabilityCase& c : test::reliability_cases()) {
    EXPECT_NE(source.find(concat("\"", c.id, "\"")), std::string::npos) << c.id << " is documented but no test uses it";
  }
}
