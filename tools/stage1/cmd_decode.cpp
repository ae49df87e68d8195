// stage1 decode model.stage1.pt --output X: a plain state dict (.pt) or a
// Hugging Face folder (when X has no .pt/.bin/.pth extension).
#include <iostream>

#include "commands.h"
#include "io/hf_folder.h"
#include "io/pt_state_dict.h"
#include "pipeline/stage1_file.h"

namespace seedforge::cli {

void add_decode_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("decode", "Decode a .stage1.pt file to a .pt state dict or a Hugging Face folder");
  cmd->add_option("file", *path, "A .stage1.pt file")->required();
  cmd->add_option("--output", *out, "Output .pt file, or a folder for Hugging Face layout")->required();
  cmd->callback([path, out] {
    const Stage1File file = read_stage1_file(*path);
    const StateDict tensors = decode_stage1(file, *path);
    const auto ends_with = [&](const std::string& s) {
      return out->size() >= s.size() && out->compare(out->size() - s.size(), s.size(), s) == 0;
    };
    if (ends_with(".pt") || ends_with(".bin") || ends_with(".pth")) {
      save_pt_state_dict(*out, tensors);
    } else {
      save_hf_folder(*out, file.config, tensors);
    }
    std::cerr << "decoded " << tensors.size() << " tensors to " << *out << "\n";
  });
}

}  // namespace seedforge::cli
