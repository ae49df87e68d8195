// Subcommands of the stage1 tool. Each cmd_<name>.cpp adds one subcommand to
// the CLI11 app; its callback calls one library function and may set the
// process exit code (e.g. 3 when the Stage-1 constraints fail).
#pragma once

#include <CLI/CLI.hpp>

namespace seedforge::cli {

// Options every command shares, parsed on the top-level app.
struct GlobalOptions {
  int threads = 0;       // 0 = one per core
  bool verbose = false;
};

GlobalOptions& global_options();
int& exit_code();  // what main() returns after a successful callback

void add_eval_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_finetune_command(CLI::App& app);
void add_config_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_decode_command(CLI::App& app);
// The main job: `stage1 --input X --output Y [--config C]` (no subcommand).
void add_run_options(CLI::App& app);

}  // namespace seedforge::cli
