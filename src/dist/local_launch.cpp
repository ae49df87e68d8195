#include "dist/local_launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "common/error.h"
#include "common/interrupt.h"

namespace seedforge {

namespace {

using Clock = std::chrono::steady_clock;

// 128 + signal for a worker killed by one, else its exit code.
int exit_status_code(int status) {
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) return concat("was killed by signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)), ")");
  return concat("exited with code ", WEXITSTATUS(status));
}

}  // namespace

std::vector<std::string> without_nproc(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--nproc") {
      ++i;  // and its value
      continue;
    }
    if (a.rfind("--nproc=", 0) == 0) continue;
    out.push_back(a);
  }
  return out;
}

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw runtime_error("cannot open a socket to find a free port: ", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw runtime_error("cannot find a free port on 127.0.0.1: ", why);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

int launch_local_workers(const std::vector<std::string>& arguments, int nproc, double timeout_s) {
  if (nproc < 2) throw usage_error("--nproc must be >= 2 to start workers, got ", nproc);
  if (arguments.empty()) throw usage_error("launch_local_workers: no command line");
  const int port = free_loopback_port();
  std::vector<char*> argv;
  for (const std::string& a : arguments) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  install_interrupt_handlers();

  const pid_t launcher = ::getpid();
  std::vector<pid_t> pids(static_cast<size_t>(nproc), -1);
  auto kill_all = [&](int sig) {
    for (pid_t p : pids) {
      if (p > 0) ::kill(p, sig);
    }
  };
  for (int rank = 0; rank < nproc; ++rank) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      const std::string why = std::strerror(errno);
      kill_all(SIGKILL);
      for (pid_t p : pids) {
        if (p > 0) ::waitpid(p, nullptr, 0);
      }
      throw runtime_error("cannot start worker ", rank, " of ", nproc, ": ", why);
    }
    if (pid == 0) {
      // The child: only async-signal-safe calls until exec (setenv is fine
      // here: the launcher has no other threads).
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      // A process group of its own: Ctrl-C reaches the launcher alone, which
      // passes it on once (a worker that got it twice would die at once
      // instead of checkpointing, interrupt.h). If the launcher dies, SIGTERM
      // stops the worker at its next step.
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != launcher) ::_exit(1);
      const std::string r = std::to_string(rank), n = std::to_string(nproc), p = std::to_string(port);
      ::setenv("RANK", r.c_str(), 1);
      ::setenv("LOCAL_RANK", r.c_str(), 1);
      ::setenv("WORLD_SIZE", n.c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", n.c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", p.c_str(), 1);
      ::execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "error: worker %d cannot run /proc/self/exe: %s\n", rank, std::strerror(errno));
      ::_exit(127);
    }
    pids[size_t(rank)] = pid;
  }

  std::vector<int> status(static_cast<size_t>(nproc), 0);
  int running = nproc;
  int first_failed = -1;
  bool forwarded = false;
  Clock::time_point kill_at = Clock::time_point::max();
  while (running > 0) {
    int st = 0;
    const pid_t done = ::waitpid(-1, &st, WNOHANG);
    if (done > 0) {
      for (int rank = 0; rank < nproc; ++rank) {
        if (pids[size_t(rank)] != done) continue;
        pids[size_t(rank)] = -1;
        status[size_t(rank)] = st;
        --running;
        if (exit_status_code(st) != 0 && first_failed < 0) {
          first_failed = rank;
          kill_at = Clock::now() + std::chrono::milliseconds(int64_t((timeout_s + 5.0) * 1000.0));
        }
      }
      continue;
    }
    if (done < 0 && errno != EINTR) break;  // no children left
    if (!forwarded && interrupt_signal() != 0) {
      kill_all(interrupt_signal());
      forwarded = true;
    }
    if (Clock::now() >= kill_at) {
      std::cerr << "error: workers still running " << timeout_s + 5.0 << " s after rank " << first_failed
                << " failed; killing them\n";
      kill_all(SIGKILL);
      kill_at = Clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  int code = 0;
  for (int rank = 0; rank < nproc; ++rank) {
    const int c = exit_status_code(status[size_t(rank)]);
    if (c != 0) std::cerr << "stage1, " << nproc << " ranks: rank " << rank << " " << describe_status(status[size_t(rank)]) << "\n";
  }
  if (exit_status_code(status[0]) != 0) {
    code = exit_status_code(status[0]);
  } else if (first_failed >= 0) {
    code = exit_status_code(status[size_t(first_failed)]);
  }
  return code;
}

}  // namespace seedforge
