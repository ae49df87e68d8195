// stage1 config --print-defaults | --check FILE
#include <iostream>

#include "commands.h"
#include "common/error.h"
#include "config/stage1_config.h"

namespace seedforge::cli {

void add_config_command(CLI::App& app) {
  auto print_defaults = std::make_shared<bool>(false);
  auto check = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("config", "Print the default Stage-1 config, or check a config file");
  cmd->add_flag("--print-defaults", *print_defaults, "Print the full default config as JSON");
  cmd->add_option("--check", *check, "Validate a config file and print it with defaults filled in");
  cmd->callback([print_defaults, check] {
    if (!check->empty()) {
      std::cout << to_json(load_stage1_config(*check)).dump(2) << "\n";
    } else if (*print_defaults) {
      std::cout << to_json(default_stage1_config()).dump(2) << "\n";
    } else {
      throw usage_error("stage1 config: give --print-defaults or --check FILE");
    }
  });
}

}  // namespace seedforge::cli
