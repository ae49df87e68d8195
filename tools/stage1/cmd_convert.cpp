// stage1 convert --input X --output Y: any supported checkpoint to a .pt state
// dict (.pt/.pth/.bin... by extension), a .safetensors file, a llama2.c .bin
// (--format llama2c), or a Hugging Face folder (any other name). The
// tokenizer found beside the input is copied into an HF folder.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "common/error.h"
#include "common/file_util.h"
#include "io/checkpoint.h"
#include "io/hf_folder.h"
#include "io/llama2c_reader.h"
#include "io/pt_state_dict.h"
#include "io/safetensors.h"

namespace seedforge::cli {

void add_convert_command(CLI::App& app) {
  struct Args {
    std::string input, output, format;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("convert", "Convert a checkpoint between formats");
  cmd->add_option("--input", args->input, "Any supported checkpoint")->required();
  cmd->add_option("--output", args->output, "Output path")->required();
  cmd->add_option("--format", args->format, "pt, safetensors, llama2c or hf (default: from the output name)")
      ->check(CLI::IsMember({"pt", "safetensors", "llama2c", "hf"}));
  cmd->callback([args] {
    std::string format = args->format;
    const std::string ext = std::filesystem::path(args->output).extension().string();
    if (format.empty()) {
      if (ext == ".pt" || ext == ".pth" || ext == ".ckpt") format = "pt";
      else if (ext == ".safetensors") format = "safetensors";
      else if (ext == ".bin") throw usage_error("'", args->output, "': .bin is ambiguous (PyTorch or llama2.c): pass --format pt or --format llama2c");
      else format = "hf";
    }
    if (format != "hf") check_output_path_writable(args->output);
    const Checkpoint ck = load_checkpoint(args->input);
    if (format == "pt") {
      save_pt_state_dict(args->output, ck.tensors);
    } else if (format == "safetensors") {
      write_safetensors(args->output, ck.tensors);
    } else if (format == "llama2c") {
      save_llama2c(ck.config, ck.tensors, args->output);
    } else {
      save_hf_folder(args->output, ck.config, ck.tensors);
      if (!ck.tokenizer_path.empty()) {
        std::filesystem::copy_file(ck.tokenizer_path,
                                   std::filesystem::path(args->output) / std::filesystem::path(ck.tokenizer_path).filename(),
                                   std::filesystem::copy_options::overwrite_existing);
      }
    }
    std::cerr << "converted " << ck.format << " '" << args->input << "' (" << ck.tensors.size() << " tensors) to " << format
              << " '" << args->output << "'\n";
  });
}

}  // namespace seedforge::cli
