// stage1 --input raw.ckpt --output model.stage1.pt [--config config.json]:
// the Stage-1 pipeline. Exit 0 when the constraints hold, 3 when the output
// was written but a constraint failed, 130/143 when SIGINT/SIGTERM stopped it
// (after a fine-tuning checkpoint; --resume continues).
#include <iostream>

#include "commands.h"
#include "common/error.h"
#include "common/interrupt.h"
#include "config/stage1_config.h"
#include "dist/dist_env.h"
#include "pipeline/plan_stage1.h"
#include "pipeline/run_stage1.h"

namespace seedforge::cli {

namespace {
struct RunArgs {
  std::string input, output, config, report;
  bool resume = false, dry_run = false, json = false;
  std::string metrics_file, pushgateway, metrics_host;
  int metrics_port = -1;
};
}  // namespace

void add_run_options(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  app.add_option("--input", args->input, "Raw checkpoint: llama2.c .bin, PyTorch .pt/.bin/.ckpt, safetensors, HF folder");
  app.add_option("--output", args->output, "Where to write the compressed model (model.stage1.pt)");
  app.add_option("--config", args->config, "Stage-1 JSON config (stage1 config --print-defaults shows every key)");
  app.add_option("--report", args->report, "Report JSON path (default: <output>.report.json)");
  app.add_flag("--resume", args->resume, "Continue fine-tuning from the last checkpoint of an interrupted run");
  app.add_flag("--dry-run", args->dry_run,
               "Plan only, from the checkpoint's headers: stages, codecs, estimated size, memory of each phase and time");
  app.add_flag("--json", args->json, "With --dry-run: print the plan as JSON (bytes and seconds) instead of Markdown");
  app.add_option("--metrics-file", args->metrics_file, "Write final Prometheus metrics here (textfile collector)");
  app.add_option("--metrics-port", args->metrics_port, "Serve /metrics on HOST:PORT during the run (see --metrics-host)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--metrics-host", args->metrics_host,
                 "Address /metrics listens on; default 127.0.0.1 (this machine only), 0.0.0.0 exposes it to the network");
  app.add_option("--pushgateway", args->pushgateway, "Push final metrics to this Prometheus Pushgateway URL");
  app.final_callback([args, &app] {
    if (app.get_subcommands().size() > 0) return;  // a subcommand ran instead
    if (args->input.empty() || args->output.empty()) {
      throw usage_error("stage1 needs --input and --output (or a subcommand); see stage1 --help");
    }
    Stage1Config config = args->config.empty() ? default_stage1_config() : load_stage1_config(args->config);
    if (!args->metrics_file.empty()) config.output.metrics_file = args->metrics_file;
    if (!args->pushgateway.empty()) config.output.pushgateway_url = args->pushgateway;
    if (args->metrics_port >= 0) config.output.metrics_port = args->metrics_port;
    if (!args->metrics_host.empty()) config.output.metrics_host = args->metrics_host;
    if (global_options().threads > 0) config.hardware.threads = global_options().threads;
    validate(config, args->config.empty() ? "defaults" : args->config);
    if (args->json && !args->dry_run) throw usage_error("--json goes with --dry-run (a run writes <output>.report.json)");
    if (!args->dry_run && launch_workers_if_asked(config.hardware.processes, config.hardware.dist_timeout_s)) return;
    if (args->dry_run) {
      const Stage1Plan plan = plan_stage1(args->input, args->output, config);
      if (args->json) {
        std::cout << plan_json(plan).dump(2) << "\n";
      } else {
        std::cout << plan_markdown(plan);
      }
      return;
    }
    // Ctrl-C or SIGTERM: stop at the next fine-tuning step or stage boundary
    // with a checkpoint instead of dying mid-write (exit 130 / 143).
    install_interrupt_handlers();
    Stage1RunOptions options;
    options.report_path = args->report;
    options.resume = args->resume;
    options.verbose = global_options().verbose;
    const Stage1Report report = run_stage1(args->input, args->output, config, options);
    if (dist_env_from_environment().rank != 0) return;  // rank 0 reports for the run
    std::cout << report_markdown(report);
    if (!report.constraints_ok()) exit_code() = 3;
  });
}

}  // namespace seedforge::cli
