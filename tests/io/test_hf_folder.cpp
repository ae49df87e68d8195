// Hugging Face folders: config.json parsing (real-world shapes of Llama,
// Mistral and Qwen2 configs), save/load round trips, the alternative weight
// files, and errors naming the field or file.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "io/hf_config.h"
#include "io/hf_folder.h"
#include "io/pt_state_dict.h"
#include "io/safetensors.h"
#include "io_test_model.h"
#include "io_test_util.h"

namespace seedforge {
namespace {

using test::TempDir;

// Abridged from TinyLlama-1.1B, Mistral-7B-v0.1 and Qwen2-0.5B config.json files.
const char* kTinyLlama = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 5632, "max_position_embeddings": 2048,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 22, "num_key_value_heads": 4,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "tie_word_embeddings": false,
  "torch_dtype": "bfloat16", "transformers_version": "4.31.0.dev0", "use_cache": true, "vocab_size": 32000})";
const char* kMistral = R"({
  "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 32768,
  "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": false,
  "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 32000})";
const char* kQwen2 = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151643,
  "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864,
  "max_position_embeddings": 131072, "max_window_layers": 24, "model_type": "qwen2", "num_attention_heads": 14,
  "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "sliding_window": 131072, "tie_word_embeddings": true, "torch_dtype": "bfloat16", "use_cache": true,
  "use_sliding_window": false, "vocab_size": 151936})";

TEST(HfConfig, ParsesRealWorldConfigs) {
  const ModelConfig llama = parse_hf_config(kTinyLlama, "tinyllama/config.json");
  EXPECT_EQ(llama.architecture, "llama");
  EXPECT_EQ(llama.dim, 2048);
  EXPECT_EQ(llama.hidden_dim, 5632);
  EXPECT_EQ(llama.n_layers, 22);
  EXPECT_EQ(llama.n_heads, 32);
  EXPECT_EQ(llama.n_kv_heads, 4);
  EXPECT_EQ(llama.vocab_size, 32000);
  EXPECT_EQ(llama.max_seq_len, 2048);
  EXPECT_DOUBLE_EQ(llama.rope_theta, 10000.0);  // absent: HF default
  EXPECT_DOUBLE_EQ(llama.norm_eps, 1e-5);
  EXPECT_FALSE(llama.tie_embeddings);
  EXPECT_FALSE(llama.attention_bias);

  const ModelConfig mistral = parse_hf_config(kMistral, "mistral/config.json");
  EXPECT_EQ(mistral.architecture, "mistral");
  EXPECT_EQ(mistral.n_kv_heads, 8);
  EXPECT_EQ(mistral.max_seq_len, 32768);

  const ModelConfig qwen = parse_hf_config(kQwen2, "qwen2/config.json");
  EXPECT_EQ(qwen.architecture, "qwen2");
  EXPECT_TRUE(qwen.attention_bias);
  EXPECT_TRUE(qwen.tie_embeddings);
  EXPECT_EQ(qwen.n_heads, 14);
  EXPECT_EQ(qwen.head_dim(), 64);
  EXPECT_DOUBLE_EQ(qwen.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(qwen.norm_eps, 1e-6);
  EXPECT_EQ(qwen.bos_id, 151643);

  // Llama 3 lists several eos ids: the first is used.
  std::string llama3 = kTinyLlama;
  llama3.replace(llama3.find("\"eos_token_id\": 2"), 17, "\"eos_token_id\": [128001, 128009]");
  EXPECT_EQ(parse_hf_config(llama3, "l3").eos_id, 128001);
}

TEST(HfConfig, ErrorsNameFieldAndFile) {
  auto without = [](const std::string& key) {
    nlohmann::json j = nlohmann::json::parse(kTinyLlama);
    j.erase(key);
    return j.dump();
  };
  auto with = [](const std::string& key, const nlohmann::json& value) {
    nlohmann::json j = nlohmann::json::parse(kTinyLlama);
    j[key] = value;
    return j.dump();
  };
  for (const char* field : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"}) {
    test::expect_input_error([&] { parse_hf_config(without(field), "x/config.json"); },
                             {"x/config.json", std::string("'") + field + "'", "missing"});
  }
  test::expect_input_error([&] { parse_hf_config(with("architectures", {"GPT2LMHeadModel"}), "x/config.json"); },
                           {"x/config.json", "'GPT2LMHeadModel'", "not supported"});
  test::expect_input_error([&] { parse_hf_config(with("hidden_size", "2048"), "c"); }, {"'hidden_size'", "integer"});
  test::expect_input_error([&] { parse_hf_config(with("rope_scaling", {{"type", "linear"}, {"factor", 2.0}}), "c"); },
                           {"rope_scaling", "linear"});
  test::expect_input_error([&] { parse_hf_config(with("hidden_act", "gelu"), "c"); }, {"hidden_act", "gelu"});
  test::expect_input_error([&] { parse_hf_config(with("head_dim", 128), "c"); }, {"head_dim"});
  test::expect_input_error([&] { parse_hf_config(with("num_key_value_heads", 5), "c"); }, {"n_kv_heads 5"});
  test::expect_input_error([&] { parse_hf_config("{\"hidden_size\": ", "c"); }, {"not valid JSON"});
  // Found by fuzz_hf_config: a number beyond double escaped as nlohmann's out_of_range.
  test::expect_input_error([&] { parse_hf_config("{\"rms_norm_eps\": 1e605}", "c"); }, {"not valid JSON", "1e605"});
  nlohmann::json no_arch = nlohmann::json::parse(kTinyLlama);
  no_arch.erase("architectures");
  EXPECT_EQ(parse_hf_config(no_arch.dump(), "c").architecture, "llama");  // model_type suffices
  no_arch.erase("model_type");
  test::expect_input_error([&] { parse_hf_config(no_arch.dump(), "c"); }, {"'architectures'", "missing"});
}

TEST(HfConfig, WriterRoundTrips) {
  for (const bool bias : {false, true}) {
    ModelConfig c = test::tiny_config(/*tied=*/!bias, bias);
    const ModelConfig back = parse_hf_config(hf_config_json(c), "written");
    test::expect_same_config(back, c);
    EXPECT_EQ(back.architecture, bias ? "qwen2" : "llama");
  }
}

TEST(HfFolder, SaveLoadRoundTrip) {
  TempDir dir;
  for (const bool bias : {false, true}) {
    const std::string out = dir.file(bias ? "qwen" : "llama");
    const ModelConfig config = test::tiny_config(/*tied=*/bias, bias);
    const StateDict sd = test::tiny_state_dict(config);
    save_hf_folder(out, config, sd);
    EXPECT_TRUE(std::filesystem::is_regular_file(out + "/config.json"));
    EXPECT_TRUE(std::filesystem::is_regular_file(out + "/model.safetensors"));
    const Checkpoint ck = load_hf_folder(out);
    EXPECT_EQ(ck.format, "hf");
    EXPECT_EQ(ck.path, out);
    EXPECT_EQ(ck.tokenizer_path, "");
    test::expect_same_config(ck.config, config);
    test::expect_same_state_dict(ck.tensors, sd);
    EXPECT_NO_THROW(build_model(ck.config, ck.tensors, ck.path));
  }
  // Only the two folders: no temporary left behind.
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) n += e.is_directory();
  EXPECT_EQ(n, 2u);
}

// The loader's one-copy path (model_loader.cpp): a model built from the
// header, its storage released, then the checkpoint's tensors adopted as its
// parameters. The header's config must be the one the full load gives, the
// adopted tensors must be the parameters themselves (no copy), and the model
// must compute what a model built by copying computes.
TEST(HfFolder, HeaderConfigAndAdoptedTensorsGiveTheCopiedModel) {
  TempDir dir;
  for (const bool tied : {true, false}) {
    const std::string out = dir.file(tied ? "tied" : "untied");
    const ModelConfig config = test::tiny_config(tied, /*bias=*/!tied);
    save_hf_folder(out, config, test::tiny_state_dict(config));
    Checkpoint ck = load_checkpoint(out);
    test::expect_same_config(read_checkpoint_header(out).config, ck.config);
    EXPECT_TRUE(checkpoint_config_in_header(out));

    Transformer copied = build_model(ck.config, ck.tensors, out);
    Transformer adopted(ck.config);
    release_parameter_storage(adopted);
    for (const auto& p : adopted->parameters()) EXPECT_LE(p.storage().nbytes(), 4u);
    std::map<std::string, const void*> where;
    for (const auto& [name, t] : ck.tensors) where[name] = t.data_ptr();
    adopt_state_dict(adopted, std::move(ck.tensors), out);
    EXPECT_TRUE(ck.tensors.empty());
    for (const auto& item : adopted->named_parameters()) {
      EXPECT_EQ(item.value().data_ptr(), where.at(item.key())) << item.key();
    }
    adopted->eval();
    const torch::Tensor tokens = torch::randint(0, config.vocab_size, {2, 9}, torch::kInt64);
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(adopted->forward(tokens), copied->forward(tokens)));

    // The checks are load_state_dict's: a wrong shape names the tensor.
    Transformer again(ck.config);
    release_parameter_storage(again);
    StateDict bad = model_state_dict(copied);
    bad[1].second = torch::zeros({3});
    test::expect_input_error([&] { adopt_state_dict(again, std::move(bad), out); }, {out, "has shape"});
  }
}

TEST(HfFolder, SavingIntoAnExistingFolderKeepsItsTokenizer) {
  TempDir dir;
  const ModelConfig config = test::tiny_config();
  std::filesystem::create_directory(dir.file("m"));
  test::write_bytes(dir.file("m/tokenizer.json"), "{}");
  save_hf_folder(dir.file("m"), config, test::tiny_state_dict(config));
  const Checkpoint ck = load_hf_folder(dir.file("m"));
  EXPECT_EQ(ck.tokenizer_path, dir.file("m"));
  EXPECT_EQ(test::read_bytes(dir.file("m/tokenizer.json")), "{}");
}

TEST(HfFolder, ReadsOtherWeightLayouts) {
  TempDir dir;
  const ModelConfig config = test::tiny_config(/*tied=*/false);
  const StateDict sd = test::tiny_state_dict(config);

  // pytorch_model.bin in bf16.
  std::filesystem::create_directory(dir.file("bin"));
  test::write_bytes(dir.file("bin/config.json"), hf_config_json(config));
  StateDict bf16;
  for (const auto& kv : sd) bf16.emplace_back(kv.first, kv.second.to(torch::kBFloat16));
  save_pt_state_dict(dir.file("bin/pytorch_model.bin"), bf16);
  test::write_bytes(dir.file("bin/tokenizer.model"), "x");
  Checkpoint ck = load_hf_folder(dir.file("bin"));
  EXPECT_EQ(ck.tokenizer_path, dir.file("bin"));
  ASSERT_EQ(ck.tensors.size(), sd.size());
  for (size_t i = 0; i < sd.size(); ++i) {
    EXPECT_TRUE(torch::equal(ck.tensors[i].second, bf16[i].second.to(torch::kFloat32))) << sd[i].first;
  }

  // Sharded pytorch_model.bin.
  std::filesystem::create_directory(dir.file("bins"));
  test::write_bytes(dir.file("bins/config.json"), hf_config_json(config));
  const size_t half = sd.size() / 2;
  save_pt_state_dict(dir.file("bins/pytorch_model-1.bin"), StateDict(sd.begin(), sd.begin() + static_cast<std::ptrdiff_t>(half)));
  save_pt_state_dict(dir.file("bins/pytorch_model-2.bin"), StateDict(sd.begin() + static_cast<std::ptrdiff_t>(half), sd.end()));
  nlohmann::ordered_json index;
  for (size_t i = 0; i < sd.size(); ++i) index["weight_map"][sd[i].first] = i < half ? "pytorch_model-1.bin" : "pytorch_model-2.bin";
  test::write_bytes(dir.file("bins/pytorch_model.bin.index.json"), index.dump());
  ck = load_hf_folder(dir.file("bins"));
  test::expect_same_state_dict(ck.tensors, sd);

  // Sharded safetensors.
  std::filesystem::create_directory(dir.file("st"));
  test::write_bytes(dir.file("st/config.json"), hf_config_json(config));
  write_safetensors(dir.file("st/a.safetensors"), StateDict(sd.begin(), sd.begin() + static_cast<std::ptrdiff_t>(half)));
  write_safetensors(dir.file("st/b.safetensors"), StateDict(sd.begin() + static_cast<std::ptrdiff_t>(half), sd.end()));
  nlohmann::ordered_json st_index;
  for (size_t i = 0; i < sd.size(); ++i) st_index["weight_map"][sd[i].first] = i < half ? "a.safetensors" : "b.safetensors";
  test::write_bytes(dir.file("st/model.safetensors.index.json"), st_index.dump());
  ck = load_hf_folder(dir.file("st"));
  test::expect_same_state_dict(ck.tensors, sd);
}

TEST(HfFolder, ErrorsNameTheFolderAndFile) {
  TempDir dir;
  const ModelConfig config = test::tiny_config();
  std::filesystem::create_directory(dir.file("m"));
  test::expect_input_error([&] { load_hf_folder(dir.file("m")); }, {"without config.json"});
  test::write_bytes(dir.file("m/config.json"), hf_config_json(config));
  test::expect_input_error([&] { load_hf_folder(dir.file("m")); }, {"no weights found", "model.safetensors"});

  nlohmann::json j = nlohmann::json::parse(hf_config_json(config));
  j.erase("num_hidden_layers");
  test::write_bytes(dir.file("m/config.json"), j.dump());
  test::expect_input_error([&] { load_hf_folder(dir.file("m")); }, {dir.file("m/config.json"), "'num_hidden_layers'"});

  ModelConfig other = config;
  other.dim = 32;
  other.n_heads = 8;
  other.n_kv_heads = 4;
  test::write_bytes(dir.file("m/config.json"), hf_config_json(other));
  write_safetensors(dir.file("m/model.safetensors"), test::tiny_state_dict(config));
  test::expect_input_error([&] { load_hf_folder(dir.file("m")); }, {"config.json", "hidden size 32", "model.safetensors"});

  test::write_bytes(dir.file("file"), "x");
  test::expect_error([&] { save_hf_folder(dir.file("file"), config, test::tiny_state_dict(config)); }, ErrorKind::kUsage,
                     {"not a folder"});
}

}  // namespace
}  // namespace seedforge
