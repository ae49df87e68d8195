// Subcommands of the stage1 tool. Each cmd_<name>.cpp adds one subcommand to
// the CLI11 app; its callback calls one library function and may set the
// process exit code (e.g. 3 when the Stage-1 constraints fail).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace seedforge::cli {

// Options every command shares, parsed on the top-level app.
struct GlobalOptions {
  int threads = 0;       // 0 = one per core
  bool verbose = false;
  int nproc = 0;         // > 1: start this many local data-parallel workers (dist/local_launch.h); 0 = the config's
  std::vector<std::string> worker_arguments;  // this command line without --nproc, for the workers
};

GlobalOptions& global_options();
// With --nproc N > 1, or without --nproc outside torchrun when the config's
// hardware.processes N > 1: starts the N workers, waits for them and sets
// exit_code() to theirs, then returns true (the caller does nothing else).
// Refuses --nproc inside a run that torchrun already started.
bool launch_workers_if_asked(int config_processes, double dist_timeout_s);
int& exit_code();  // what main() returns after a successful callback

void add_eval_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_finetune_command(CLI::App& app);
void add_config_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_decode_command(CLI::App& app);
void add_export_command(CLI::App& app);
// The main job: `stage1 --input X --output Y [--config C]` (no subcommand).
void add_run_options(CLI::App& app);

}  // namespace seedforge::cli
