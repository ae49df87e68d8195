// stage1 export model.stage1.pt --format gguf --output model.gguf: the model
// as a GGUF file for llama.cpp (src/gguf/gguf_export.h says what is written).
#include <iostream>

#include "commands.h"
#include "common/error.h"
#include "gguf/gguf_export.h"
#include "infer/model.h"

namespace seedforge::cli {

void add_export_command(CLI::App& app) {
  struct Args {
    std::string input, output, format = "gguf", ternary = "tq2_0", float_type = "f16";
    bool strict = false, quiet = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("export", "Write a .stage1.pt as a file another runtime loads (GGUF for llama.cpp)");
  cmd->add_option("file", a->input, "A .stage1.pt file")->required();
  cmd->add_option("--format", a->format, "Output format (gguf)")->capture_default_str();
  cmd->add_option("--output,-o", a->output, "Output file")->required();
  cmd->add_option("--ternary", a->ternary,
                  "Type of the ternary projections: tq2_0 (2.06 bits a weight), tq1_0 (1.69), f16; a tensor whose "
                  "rows or scales do not fit 256-value blocks is written F16 and named")
      ->capture_default_str();
  cmd->add_option("--float-type", a->float_type, "Type of the embedding, head and float-coded projections: f16, q8_0, f32")
      ->capture_default_str();
  cmd->add_flag("--strict", a->strict, "Refuse to write when any tensor's values would change");
  cmd->add_flag("--quiet,-q", a->quiet, "Print only the summary line");
  cmd->callback([a] {
    if (a->format != "gguf") throw usage_error("--format must be gguf, got '", a->format, "'");
    gguf::ExportOptions options;
    options.ternary = gguf::parse_ternary_type(a->ternary);
    options.float_type = gguf::parse_float_type(a->float_type);
    options.strict = a->strict;
    const auto model = infer::load_model(a->input);
    const gguf::ExportReport report = gguf::export_gguf(*model, a->output, options);
    const std::string text = gguf::format_export_report(report);
    if (a->quiet) std::cout << text.substr(text.rfind('\n', text.size() - 2) + 1);
    else std::cout << text;
    std::cout << "wrote " << a->output << "\n";
  });
}

}  // namespace seedforge::cli
