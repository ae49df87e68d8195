// stage1: the seedforge command-line tool. A thin main: parse flags, call one
// library function per subcommand, map errors to exit codes:
//   0 success, 1 failure, 2 usage or config error, 3 output written but a
//   Stage-1 constraint failed, 128 + signal when SIGINT (130) or SIGTERM (143)
//   stopped a run at a safe point.
#include <iostream>

#include "commands.h"
#include "common/error.h"
#include "common/interrupt.h"
#include "dist/dist_env.h"
#include "dist/local_launch.h"
#include "runtime/threads.h"

#if defined(SEEDFORGE_JEMALLOC)
// jemalloc's options, read when it starts (MALLOC_CONF in the environment
// overrides them). Freed pages stay with the process for reuse, as glibc's
// heap keeps blocks (runtime/threads.cpp), instead of going back after 10 s
// and faulting in again: a stage1 run gives them back at each stage's end
// (release_free_memory). Measured on a 125M-parameter block-wise run: peak
// 1.98 GiB against 2.36 with glibc malloc, and less CPU time.
extern "C" {
const char* malloc_conf = "dirty_decay_ms:-1,muzzy_decay_ms:-1";
}
#endif

namespace seedforge::cli {

GlobalOptions& global_options() {
  static GlobalOptions options;
  return options;
}

int& exit_code() {
  static int code = 0;
  return code;
}

bool launch_workers_if_asked(int config_processes, double dist_timeout_s) {
  const GlobalOptions& g = global_options();
  const bool in_torchrun = dist_env_from_environment().distributed();
  if (g.nproc > 1 && in_torchrun) {
    throw usage_error("--nproc ", g.nproc, " starts its own workers, but WORLD_SIZE is already set (torchrun?): leave --nproc out");
  }
  // The workers this launcher starts run with WORLD_SIZE set, so they never
  // launch again from the config.
  const int ranks = g.nproc > 0 ? g.nproc : (in_torchrun ? 1 : config_processes);
  if (ranks <= 1) return false;
  exit_code() = launch_local_workers(g.worker_arguments, ranks, dist_timeout_s);
  return true;
}

}  // namespace seedforge::cli

int main(int argc, char** argv) {
  using namespace seedforge;
  CLI::App app{"seedforge stage1: compress LLM checkpoints with BitNet b1.58 ternary fine-tuning and SeedLM encoding"};
  app.set_version_flag("--version", std::string("stage1 (seedforge) ") + SEEDFORGE_VERSION);
  app.option_defaults()->always_capture_default();
  auto& global = cli::global_options();
  app.add_option("--threads", global.threads, "CPU threads for tensor math (0 = one per core)")->check(CLI::NonNegativeNumber);
  app.add_flag("-v,--verbose", global.verbose, "More log output");
  app.add_option("--nproc", global.nproc,
                 "Data-parallel workers to start on this machine (stage1 and stage1 finetune; default: the config's "
                 "hardware.processes; torchrun's environment does the same across machines)")
      ->check(CLI::Range(1, 1024));
  global.worker_arguments = without_nproc(argc, argv);
  app.require_subcommand(0, 1);
  cli::add_run_options(app);
  cli::add_eval_command(app);
  cli::add_generate_command(app);
  cli::add_finetune_command(app);
  cli::add_config_command(app);
  cli::add_convert_command(app);
  cli::add_inspect_command(app);
  cli::add_decode_command(app);
  cli::add_export_command(app);
  app.parse_complete_callback([&] { configure_threads(global.threads); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const InterruptedError& e) {
    std::cerr << "interrupted: " << e.what() << "\n";
    return 128 + e.signal();
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return e.kind() == ErrorKind::kUsage ? 2 : 1;
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return cli::exit_code();
}
