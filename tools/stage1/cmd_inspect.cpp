// stage1 inspect model.stage1.pt: config, tensors, codecs, sizes, metrics.
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common/file_util.h"
#include "gguf/gguf_inspect.h"
#include "gguf/gguf_model.h"
#include "pipeline/stage1_file.h"

namespace seedforge::cli {

void add_inspect_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("inspect", "Show what a .stage1.pt or .gguf file holds");
  cmd->add_option("file", *path, "A .stage1.pt or .gguf file")->required();
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->callback([path, json] {
    if (gguf::is_gguf_file(*path)) {
      std::cout << gguf::inspect_gguf(*path, *json);
      return;
    }
    const Stage1File f = read_stage1_file(*path);
    const int64_t file_bytes = static_cast<int64_t>(file_size_bytes(*path));
    nlohmann::json tensors = nlohmann::json::array();
    int64_t params = 0, payload = 0;
    for (const auto& t : f.tensors) {
      params += t.numel();
      payload += t.payload_bytes();
      tensors.push_back({{"name", t.name}, {"codec", t.codec}, {"shape", t.shape}, {"bytes", t.payload_bytes()},
                         {"bits_per_weight", double(t.payload_bytes()) * 8 / double(std::max<int64_t>(t.numel(), 1))}});
    }
    const auto& c = f.config;
    nlohmann::json j = {
        {"file", *path},
        {"file_bytes", file_bytes},
        {"format_version", f.format_version},
        {"config", {{"architecture", c.architecture}, {"dim", c.dim}, {"hidden_dim", c.hidden_dim}, {"n_layers", c.n_layers},
                    {"n_heads", c.n_heads}, {"n_kv_heads", c.n_kv_heads}, {"vocab_size", c.vocab_size},
                    {"max_seq_len", c.max_seq_len}, {"rope_theta", c.rope_theta}, {"norm_eps", c.norm_eps},
                    {"tie_embeddings", c.tie_embeddings}, {"attention_bias", c.attention_bias}}},
        {"tokenizer", {{"kind", f.tokenizer_kind}, {"bytes", f.tokenizer_bytes.size()}}},
        {"seedlm", {{"K", f.seedlm.K}, {"C", f.seedlm.C}, {"P", f.seedlm.P}, {"Q", f.seedlm.Q}, {"E", f.seedlm.E},
                    {"taps", f.seedlm.resolved_taps()}}},
        {"bitnet", {{"enabled", f.bitnet.enabled}, {"activation_bits", f.bitnet.activation_bits},
                    {"per_row_scale", f.bitnet.per_row_scale}, {"scale_group", f.bitnet.scale_group},
                    {"input_norm", f.bitnet.input_norm}}},
        {"training", f.training},
        {"parameters", params},
        {"payload_bytes", payload},
        {"bits_per_weight", double(file_bytes) * 8 / double(std::max<int64_t>(params, 1))},
        {"metrics", nlohmann::json::parse(f.metrics_json)},
        {"tensors", tensors}};
    if (*json) {
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::cout << *path << ": seedforge Stage-1 file, format version " << f.format_version << ", " << file_bytes
              << " bytes\n"
              << "model   " << c.architecture << " dim " << c.dim << ", hidden " << c.hidden_dim << ", " << c.n_layers
              << " layers, " << c.n_heads << " heads (" << c.n_kv_heads << " kv), vocab " << c.vocab_size << ", seq "
              << c.max_seq_len << (c.tie_embeddings ? ", tied embeddings" : "") << "\n"
              << "tokens  " << f.tokenizer_kind << " tokenizer, " << f.tokenizer_bytes.size() << " bytes embedded\n"
              << "bitnet  activations " << f.bitnet.activation_bits << " bits, "
              << (!f.bitnet.per_row_scale        ? std::string("per-tensor")
                  : f.bitnet.scale_group == 0 ? std::string("per-row")
                                              : "per-row-and-" + std::to_string(f.bitnet.scale_group) + "-column")
              << " scales" << (f.bitnet.input_norm ? ", input norm" : "")
              << "\n"
              << "seedlm  K=" << f.seedlm.K << " C=" << f.seedlm.C << " P=" << f.seedlm.P << " Q=" << f.seedlm.Q
              << " E=" << f.seedlm.E << "\n"
              << "weights " << params << " parameters, " << std::fixed << std::setprecision(3)
              << double(file_bytes) * 8 / double(std::max<int64_t>(params, 1)) << " bits per weight overall\n"
              << "metrics " << f.metrics_json << "\n";
    int64_t ternary = 0, wider = 0;
    for (const auto& t : f.tensors) {
      if (t.codec == "ternary") ternary += t.numel();
      if (t.codec == "levels") wider += t.numel();
    }
    if (wider > 0) {
      std::cout << "levels  " << wider << " of " << ternary + wider << " projection weights not ternary ("
                << std::setprecision(1) << 100.0 * double(wider) / double(ternary + wider) << "%)\n";
    }
    std::cout << "\n";
    std::cout << std::left << std::setw(48) << "tensor" << std::setw(9) << "codec" << std::setw(14) << "shape"
              << std::right << std::setw(9) << "bytes" << std::setw(8) << "bits/w" << "\n";
    for (const auto& t : f.tensors) {
      std::string shape;
      for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? "x" : "") + std::to_string(t.shape[i]);
      // A levels tensor says how many: "levels5" (-2..2), "levels15" (-7..7).
      const std::string codec = t.codec == "levels" ? "levels" + std::to_string(2 * t.max_level + 1) : t.codec;
      std::cout << std::left << std::setw(48) << t.name << std::setw(9) << codec << std::setw(14) << shape << std::right
                << std::setw(9) << t.payload_bytes() << std::setw(8) << std::setprecision(2)
                << double(t.payload_bytes()) * 8 / double(std::max<int64_t>(t.numel(), 1)) << "\n";
    }
  });
}

}  // namespace seedforge::cli
