// make_seeds OUT_DIR [DATA_DIR]: writes a starting corpus for every fuzz
// target into OUT_DIR/<target>/, made with seedforge's own writers (so every
// format the readers accept is represented by a file that loads) plus, per
// binary seed, a copy cut in half (the truncated file every reader's tests
// check first). DATA_DIR (../shared/data) adds seeds derived from the real
// tokenizer files; the real files themselves are copied by scripts/fuzz.sh.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"
#include "config/stage1_config.h"
#include "gguf/gguf_export.h"
#include "infer/model.h"
#include "io/hf_config.h"
#include "io/llama2c_reader.h"
#include "io/pickle.h"
#include "io/pt_file.h"
#include "io/pt_state_dict.h"
#include "io/safetensors.h"
#include "io/zip_archive.h"
#include "pipeline/stage1_file.h"
#include "pipeline/tensor_encoding.h"
#include "tiny_model.h"
#include "tokenizer/bpe_tokenizer.h"

namespace fs = std::filesystem;
using namespace seedforge;

namespace {

fs::path g_out;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(g_out / target);
  std::ofstream out(g_out / target / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The seed and the same bytes cut in half.
void put_with_truncation(const std::string& target, const std::string& name, const std::string& bytes) {
  put(target, name, bytes);
  put(target, name + ".half", bytes.substr(0, bytes.size() / 2));
}

// Writes through `write(path)` into a scratch file and returns the bytes.
template <typename Write>
std::string written(const std::string& name, Write&& write) {
  const fs::path path = g_out / ".scratch" / name;
  fs::create_directories(path.parent_path());
  write(path.string());
  return slurp(path);
}

PtValue tensor_dict(const StateDict& sd) {
  PtValue d = PtValue::new_dict();
  for (const auto& [name, value] : sd) d.set(name, PtValue::of_tensor(value));
  return d;
}

// A llama2.c tokenizer.bin: <unk>, <s>, </s>, the 256 byte pieces, a few merges.
std::string tiny_llama2c_tokenizer() {
  std::vector<std::pair<float, std::string>> pieces = {{0.0f, "<unk>"}, {0.0f, "\n<s>\n"}, {0.0f, "\n</s>\n"}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    pieces.emplace_back(0.0f, name);
  }
  for (const char* merged : {" ", "a", "b", "ab", " a", " ab", "ba"}) pieces.emplace_back(-1.0f * pieces.size(), merged);
  std::string out;
  auto i32 = [&](int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  i32(6);
  for (const auto& [score, piece] : pieces) {
    out.append(reinterpret_cast<const char*>(&score), 4);
    i32(static_cast<int32_t>(piece.size()));
    out += piece;
  }
  return out;
}

void checkpoint_seeds() {
  const ModelConfig config = fuzz::tiny_model_config();
  const StateDict weights = fuzz::tiny_model_weights(config);

  // .pt: a plain state dict, a training checkpoint wrapping one (with scalars,
  // a shared storage view and other dtypes), and a bare tensor list.
  const std::string plain = written("plain.pt", [&](const std::string& p) { save_pt_state_dict(p, weights); });
  put_with_truncation("fuzz_pt_file", "plain.pt", plain);
  PtValue ckpt = PtValue::new_dict();
  StateDict wrapped;
  for (const auto& [name, value] : weights) wrapped.emplace_back("module." + name, value.to(torch::kBFloat16));
  ckpt.set("state_dict", tensor_dict(wrapped));
  ckpt.set("step", PtValue::of_int(1234));
  ckpt.set("lr", PtValue::of_double(0.5));
  ckpt.set("name", PtValue::of_string("tiny"));
  ckpt.set("flag", PtValue::of_bool(true));
  ckpt.set("nothing", PtValue::none());
  const torch::Tensor base = torch::arange(24, torch::kInt64);
  ckpt.set("views", PtValue::new_tuple({PtValue::of_tensor(base), PtValue::of_tensor(base.view({4, 6}).t()),
                                        PtValue::of_tensor(torch::ones({3}, torch::kBool))}));
  const std::string training = written("training.ckpt", [&](const std::string& p) { write_pt_file(p, ckpt); });
  put_with_truncation("fuzz_pt_file", "training.ckpt", training);

  // Zip: the .pt archives, and writer variants (no alignment, forced ZIP64,
  // deflated entries).
  put_with_truncation("fuzz_zip_archive", "plain.pt", plain);
  put("fuzz_zip_archive", "training.ckpt", training);
  for (const std::string name : {"unaligned.zip", "zip64.zip", "deflated.zip", "deflated_zip64.zip"}) {
    ZipWriterOptions options;
    options.force_zip64 = name.find("zip64") != std::string::npos;
    options.alignment = options.force_zip64 ? 64 : 1;
    options.deflate = name.find("deflated") != std::string::npos;
    put_with_truncation("fuzz_zip_archive", name, written(name, [&](const std::string& p) {
      ZipWriter zip(p, options);
      zip.add("a/version", "3\n", 2);
      zip.add("a/data.pkl", "\x80\x02}q\x00.", 6);
      zip.add("a/empty", "", 0);
      std::string skewed(600, '\0');  // deflates: a few symbols, most of them zero
      for (size_t i = 0; i < skewed.size(); ++i) skewed[i] = static_cast<char>((i * 7919 % 13) < 8 ? 0 : i % 5);
      zip.add("a/data/0", skewed.data(), skewed.size());
      zip.finish();
    }));
  }

  // Pickle: the data.pkl records of the archives, and a value of every kind.
  for (const auto& [name, bytes] : {std::pair<std::string, std::string>{"plain", plain}, {"training", training}}) {
    const fs::path path = g_out / ".scratch" / (name + ".zip");
    std::ofstream(path, std::ios::binary) << bytes;
    ZipReader zip(path.string());
    for (const ZipEntry& e : zip.entries()) {
      if (e.name.size() >= 8 && e.name.compare(e.name.size() - 8, 8, "data.pkl") == 0) {
        put("fuzz_pickle", name + ".pkl", zip.read_string(e));
      }
    }
  }
  PickleValue kinds;
  kinds.kind = PickleValue::Kind::kList;
  for (int64_t v : {int64_t(0), int64_t(255), int64_t(65535), int64_t(1) << 40, -(int64_t(1) << 62)}) {
    PickleValue i;
    i.kind = PickleValue::Kind::kInt;
    i.integer = v;
    kinds.items.push_back(i);
  }
  PickleValue s;
  s.kind = PickleValue::Kind::kString;
  s.string = "h\xC3\xA9llo";
  kinds.items.push_back(s);
  PickleValue f;
  f.kind = PickleValue::Kind::kFloat;
  f.real = -2.5;
  kinds.items.push_back(f);
  PickleValue t;
  t.kind = PickleValue::Kind::kTuple;
  t.items = {s, f, kinds.items[0]};
  kinds.items.push_back(t);
  put("fuzz_pickle", "kinds.pkl", pickle_dumps(kinds));

  // safetensors: the model in fp32, and every dtype with metadata.
  put_with_truncation("fuzz_safetensors", "model.safetensors",
                      written("model.safetensors", [&](const std::string& p) { write_safetensors(p, weights); }));
  StateDict dtypes;
  for (const auto dtype : {torch::kFloat64, torch::kFloat32, torch::kFloat16, torch::kBFloat16, torch::kInt64,
                           torch::kInt32, torch::kInt16, torch::kInt8, torch::kUInt8, torch::kBool}) {
    dtypes.emplace_back(std::string("t_") + c10::toString(dtype), torch::ones({2, 3}).to(dtype));
  }
  dtypes.emplace_back("empty", torch::zeros({0, 4}));
  dtypes.emplace_back("scalar", torch::ones({}));
  put_with_truncation("fuzz_safetensors", "dtypes.safetensors", written("dtypes.safetensors", [&](const std::string& p) {
    write_safetensors(p, dtypes, {{"format", "pt"}, {"note", "seed"}});
  }));

  // llama2.c model .bin.
  put_with_truncation("fuzz_llama2c", "tiny.bin",
                      written("tiny.bin", [&](const std::string& p) { save_llama2c(config, weights, p); }));

  // config.json: the model's own, and a Qwen2 one.
  put("fuzz_hf_config", "llama.json", hf_config_json(config));
  ModelConfig qwen = config;
  qwen.attention_bias = true;
  put("fuzz_hf_config", "qwen2.json", hf_config_json(qwen));

  // HF folders: config.json + an index describing fuzz_hf_folder's shards.
  for (const bool pt : {false, true}) {
    nlohmann::ordered_json index;
    index["metadata"]["total_size"] = 0;
    for (int i = 0; i < 2; ++i) {
      for (const auto& [name, value] : fuzz::hf_shard(i)) index["weight_map"][name] = pt ? fuzz::kPtShards[i] : fuzz::kSafetensorsShards[i];
    }
    put("fuzz_hf_folder", pt ? "pt_index" : "safetensors_index",
        std::string(1, pt ? '\1' : '\0') + hf_config_json(config) + std::string(1, '\0') + index.dump(1));
  }
}

void stage1_seeds(const std::string& tokenizer_bytes) {
  const ModelConfig config = fuzz::tiny_model_config();
  const StateDict weights = fuzz::tiny_model_weights(config);
  SeedLMParams seedlm;
  seedlm.seed_candidates = 16;  // a seed, not a good encoding: keep make_seeds fast
  for (const int variant : {0, 1, 2}) {
    const bool grouped = variant >= 1;
    const bool levels = variant == 2;  // the down projections at five levels (format 3)
    BitNetOptions bitnet;
    bitnet.per_row_scale = true;
    bitnet.scale_group = grouped ? 4 : 0;
    bitnet.fp16_scales = grouped;
    Stage1File file;
    file.config = config;
    file.tokenizer_kind = "llama2c";
    file.tokenizer_bytes = tokenizer_bytes;
    file.seedlm = seedlm;
    file.bitnet = {true, 8, true, bitnet.scale_group, false};
    file.training = {{"steps", 4}, {"tokens", 512}};
    for (const auto& [name, w] : weights) {
      if (name == "model.embed_tokens.weight") {
        file.tensors.push_back(encode_seedlm_tensor(name, w, seedlm));
      } else if (name == "lm_head.weight") {
        file.tensors.push_back(encode_int8_tensor(name, w));
      } else if (w.dim() == 1) {
        file.tensors.push_back(encode_raw_tensor(name, w, grouped));
      } else {
        const int64_t rows = w.size(0), groups = ternary_scale_count(rows, w.size(1), bitnet) / rows;
        torch::Tensor scale = torch::full({rows, groups}, 0.5f);
        if (grouped) scale = scale.to(torch::kFloat16);
        BitNetOptions layer = bitnet;
        layer.max_level = levels && name.find("down_proj") != std::string::npos ? 2 : 1;
        const torch::Tensor values = (w * 4).round().clamp(-layer.max_level, layer.max_level).to(torch::kInt8);
        file.tensors.push_back(encode_ternary_tensor(name, values, groups == 1 ? scale.view({rows}) : scale, layer));
      }
    }
    const std::string name = levels ? "v3_levels.stage1.pt" : grouped ? "v2_grouped.stage1.pt" : "v1.stage1.pt";
    const std::string bytes = written(name, [&](const std::string& p) {
      write_stage1_file(p, file);
      (void)read_stage1_file(p);  // a seed that does not load would waste the fuzzer's time
    });
    put_with_truncation("fuzz_stage1_file", name, bytes);
    put_with_truncation("fuzz_infer_model", name, bytes);  // the engine's loader reads the same files
    // The same model exported as GGUF (TQ2_0 where rows fit, F16 elsewhere) for fuzz_gguf.
    if (levels) continue;  // its GGUF holds nothing the other two do not
    const std::string gguf_name = grouped ? "v2_grouped.gguf" : "v1.gguf";
    try {
      const std::string gguf = written(gguf_name, [&](const std::string& p) {
        const std::string stage1 = p + ".stage1.pt";
        write_stage1_file(stage1, file);
        gguf::export_gguf(*infer::load_model(stage1), p, gguf::ExportOptions{});
        fs::remove(stage1);
      });
      put_with_truncation("fuzz_gguf", gguf_name, gguf);
    } catch (const Error& e) {
      std::cerr << "make_seeds: no GGUF seed: " << e.what() << "\n";
    }
  }
}

// GPT-2 files cut to the first `n` ids, keeping the merges whose pieces and
// result survive, so that each execution stays fast.
void gpt2_seeds(const fs::path& data) {
  const fs::path encoder = data / "tokenizers/gpt2/encoder.json", merges = data / "tokenizers/gpt2/vocab.bpe";
  if (!fs::exists(encoder) || !fs::exists(merges)) return;
  const nlohmann::ordered_json full = nlohmann::ordered_json::parse(slurp(encoder));
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  std::set<std::string> kept;
  for (const auto& item : full.items()) {
    if (item.value().get<int64_t>() < 400) {
      vocab[item.key()] = item.value();
      kept.insert(item.key());
    }
  }
  std::string merge_text = "#version: 0.2\n";
  std::istringstream lines(slurp(merges));
  for (std::string line; std::getline(lines, line);) {
    const size_t space = line.find(' ');
    if (line.empty() || line[0] == '#' || space == std::string::npos) continue;
    const std::string a = line.substr(0, space), b = line.substr(space + 1);
    if (kept.count(a) && kept.count(b) && kept.count(a + b)) merge_text += line + "\n";
  }
  for (const bool openai : {true, false}) {
    put("fuzz_gpt2_bpe", openai ? "openai_names" : "hf_names",
        std::string(1, openai ? '\1' : '\0') + vocab.dump() + std::string(1, '\0') + merge_text);
  }
  // tokenizer.json as BpeTokenizer writes it for the same vocabulary.
  fs::create_directories(g_out / ".scratch/gpt2");
  std::ofstream(g_out / ".scratch/gpt2/vocab.json") << vocab.dump();
  std::ofstream(g_out / ".scratch/gpt2/merges.txt") << merge_text;
  const auto tokenizer = BpeTokenizer::from_gpt2_files((g_out / ".scratch/gpt2/vocab.json").string(),
                                                       (g_out / ".scratch/gpt2/merges.txt").string());
  put("fuzz_tokenizer_json", "gpt2_small.json", tokenizer->to_bytes());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: make_seeds OUT_DIR [DATA_DIR]\n";
    return 2;
  }
  try {
    torch::set_num_threads(1);
    g_out = argv[1];
    const fs::path data = argc == 3 ? fs::path(argv[2]) : fs::path();
    fs::create_directories(g_out);
    const std::string tokenizer = tiny_llama2c_tokenizer();
    put("fuzz_llama2c_tokenizer", "tiny.bin", tokenizer);
    put("fuzz_stage1_config", "defaults.json", to_json(default_stage1_config()).dump(2));
    checkpoint_seeds();
    stage1_seeds(tokenizer);
    if (!data.empty()) gpt2_seeds(data);
    fs::remove_all(g_out / ".scratch");
  } catch (const std::exception& e) {
    std::cerr << "make_seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
