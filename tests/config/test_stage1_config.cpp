// Stage1Config: defaults, JSON round trip, overrides, and each error class
// with its message.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "common/error.h"
#include "common/file_util.h"
#include "config/stage1_config.h"

namespace seedforge {
namespace {

using nlohmann::json;

// The message of the seedforge::Error `f` throws, after checking its kind.
std::string error_of(const std::function<void()>& f, ErrorKind kind = ErrorKind::kUsage) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected an error";
  return "";
}

std::string parse_error(const std::string& text) {
  return error_of([&] { parse_stage1_config(text, "config.json"); });
}

// Every leaf of a JSON object as "section.key".
std::vector<std::string> leaves(const json& j) {
  std::vector<std::string> out;
  for (const auto& section : j.items()) {
    for (const auto& item : section.value().items()) out.push_back(section.key() + "." + item.key());
  }
  return out;
}

TEST(Stage1Config, DefaultsAreTheDocumentedOnes) {
  const Stage1Config c = default_stage1_config();
  EXPECT_DOUBLE_EQ(c.bitnet.lr, 1e-4);
  EXPECT_EQ(c.bitnet.epochs, 2);
  EXPECT_EQ(c.bitnet.max_steps, 0);
  EXPECT_EQ(c.bitnet.batch_size, 2);
  EXPECT_EQ(c.bitnet.grad_accum, 4);
  EXPECT_EQ(c.bitnet.seq_len, 256);
  EXPECT_DOUBLE_EQ(c.bitnet.warmup_fraction, 0.4);
  EXPECT_EQ(c.bitnet.schedule, LambdaSchedule::kLinear);
  EXPECT_EQ(c.bitnet.lr_schedule, LrSchedule::kCosine);
  EXPECT_DOUBLE_EQ(c.bitnet.beta2, 0.95);
  EXPECT_EQ(c.bitnet.activation_bits, 8);
  EXPECT_EQ(c.bitnet.seed, 1234u);
  EXPECT_EQ(c.seedlm.block_size, 8);
  EXPECT_EQ(c.seedlm.latent_dim, 4);
  EXPECT_EQ(c.seedlm.K, 16);
  EXPECT_EQ(c.seedlm.Q, 4);
  EXPECT_EQ(c.seedlm.E, 4);
  EXPECT_EQ(c.encoding.ternary, TernaryEncoding::kPacked);
  EXPECT_EQ(c.encoding.float_matrices, FloatEncoding::kSeedlm);
  EXPECT_EQ(c.encoding.vector, VectorEncoding::kFp16);
  EXPECT_DOUBLE_EQ(c.constraints.target_compression_ratio, 10.0);
  EXPECT_DOUBLE_EQ(c.constraints.max_accuracy_drop, 0.05);
  EXPECT_EQ(c.hardware.device, Device::kCpu);
  EXPECT_DOUBLE_EQ(c.hardware.max_vram_gb, 16.0);
  EXPECT_EQ(c.hardware.backend, "auto");
  EXPECT_DOUBLE_EQ(c.hardware.dist_timeout_s, 300.0);
  EXPECT_DOUBLE_EQ(c.hardware.dist_bucket_mb, -1.0);
  EXPECT_EQ(c.hardware.processes, 1);
  EXPECT_EQ(c.hardware.loss_chunk_tokens, -1);
  EXPECT_EQ(c.output.metrics_port, 0);
  EXPECT_EQ(c.output.metrics_host, "127.0.0.1");  // loopback unless the user says otherwise
  EXPECT_NO_THROW(validate(c));
}

TEST(Stage1Config, JsonHasEveryKeyUnderItsSection) {
  const json j = to_json(default_stage1_config());
  std::vector<std::string> sections;
  for (const auto& item : j.items()) sections.push_back(item.key());
  EXPECT_EQ(sections, (std::vector<std::string>{"bitnet", "constraints", "encoding", "eval", "hardware", "output",
                                                "seedlm"}));
  EXPECT_EQ(j["bitnet"].size(), 39u);
  EXPECT_EQ(j["seedlm"].size(), 7u);
  EXPECT_EQ(j["encoding"].size(), 4u);
  EXPECT_EQ(j["eval"].size(), 5u);
  EXPECT_EQ(j["constraints"].size(), 2u);
  EXPECT_EQ(j["hardware"].size(), 8u);
  EXPECT_EQ(j["output"].size(), 5u);
  EXPECT_EQ(j["bitnet"]["schedule"], "linear");
  EXPECT_EQ(j["encoding"]["float"], "seedlm");
  EXPECT_EQ(j["seedlm"]["K"], 16);
}

TEST(Stage1Config, DefaultsRoundTrip) {
  const Stage1Config d = default_stage1_config();
  EXPECT_EQ(to_json(parse_stage1_config(to_json(d).dump(2), "config.json")), to_json(d));
  EXPECT_EQ(to_json(parse_stage1_config("{}", "config.json")), to_json(d));
  EXPECT_EQ(to_json(parse_stage1_config(R"({"bitnet": {}, "output": {}})", "config.json")), to_json(d));
}

TEST(Stage1Config, EveryKeyRoundTripsWithNonDefaultValue) {
  Stage1Config c;
  c.bitnet.lr = 3e-4;
  c.bitnet.epochs = 5;
  c.bitnet.max_steps = 100;
  c.bitnet.batch_size = 8;
  c.bitnet.grad_accum = 1;
  c.bitnet.seq_len = 128;
  c.bitnet.warmup_fraction = 0.25;
  c.bitnet.schedule = LambdaSchedule::kSigmoid;
  c.bitnet.lr_schedule = LrSchedule::kConstant;
  c.bitnet.lr_warmup_steps = 10;
  c.bitnet.weight_decay = 0.01;
  c.bitnet.beta1 = 0.8;
  c.bitnet.beta2 = 0.99;
  c.bitnet.grad_clip = 0.5;
  c.bitnet.activation_bits = 0;
  c.bitnet.per_row_scale = true;
  c.bitnet.scale_group = 32;
  c.bitnet.input_norm = true;
  c.bitnet.projection_levels = {"*.mlp.down_proj:5", "model.layers.0.*:15"};
  c.bitnet.learned_scales = true;
  c.bitnet.kd_weight = 0.5;
  c.bitnet.kd_temperature = 2.0;
  c.bitnet.teacher_top_k = 32;
  c.bitnet.teacher_cache_mb = 256;
  c.bitnet.seed = 18446744073709551615ull;  // the whole uint64 range survives
  c.bitnet.eval_every = 50;
  c.bitnet.checkpoint_every = 200;
  c.bitnet.checkpoint_dir = "ckpt";
  c.bitnet.train_text = {"train \"quoted\".txt", "more/*.jsonl"};
  c.bitnet.token_cache_dir = "tokens";
  c.bitnet.valid_fraction = 0.1;
  c.bitnet.float_freeze_fraction = 0.25;
  c.bitnet.synthetic_tokens = 100000;
  c.bitnet.synthetic_temperature = 0.8;
  c.bitnet.mode = "blockwise";
  c.bitnet.block_windows = 64;
  c.bitnet.block_steps = 50;
  c.bitnet.block_inputs = "original";
  c.bitnet.e2e_steps = 10;
  c.seedlm.block_size = 12;
  c.seedlm.latent_dim = 3;
  c.seedlm.K = 12;
  c.seedlm.Q = 3;
  c.seedlm.E = 5;
  c.seedlm.seed_candidates = 4095;
  c.seedlm.threads = 2;
  c.encoding.ternary = TernaryEncoding::kSeedlm;
  c.encoding.float_matrices = FloatEncoding::kInt8;
  c.encoding.vector = VectorEncoding::kFp32;
  c.encoding.ternary_scale = ScaleEncoding::kFp16;
  c.eval.text = "v.txt";
  c.eval.max_docs = 100;
  c.eval.hellaswag = "h.jsonl";
  c.eval.hellaswag_max_tasks = 50;
  c.eval.tokenizer = "tok.bin";
  c.constraints.target_compression_ratio = 8.5;
  c.constraints.max_accuracy_drop = 0.1;
  c.hardware.device = Device::kCuda;
  c.hardware.max_vram_gb = 40.0;
  c.hardware.threads = 4;
  c.hardware.backend = "nccl";
  c.hardware.dist_timeout_s = 60.0;
  c.hardware.dist_bucket_mb = 4.0;
  c.hardware.loss_chunk_tokens = 300;
  c.output.log_file = "run.log";
  c.output.metrics_file = "m.prom";
  c.output.pushgateway_url = "http://127.0.0.1:9091";
  c.output.metrics_port = 9100;
  c.output.metrics_host = "0.0.0.0";

  const json written = to_json(c);
  const json defaults = to_json(default_stage1_config());
  // Guards the test itself: if a key were added without a line above, the
  // round trip below would not cover it. hardware.processes > 1 is refused
  // with bitnet.mode "blockwise": it round-trips at the end.
  for (const std::string& leaf : leaves(written)) {
    if (leaf == "hardware.processes") continue;
    const json::json_pointer pointer("/" + leaf.substr(0, leaf.find('.')) + "/" + leaf.substr(leaf.find('.') + 1));
    EXPECT_NE(written[pointer], defaults[pointer]) << leaf << " is not exercised with a non-default value";
  }
  const Stage1Config back = parse_stage1_config(written.dump(), "config.json");
  EXPECT_EQ(to_json(back), written);
  EXPECT_EQ(back.bitnet.seed, 18446744073709551615ull);
  EXPECT_EQ(back.encoding.float_matrices, FloatEncoding::kInt8);
  EXPECT_EQ(back.bitnet.train_text, (std::vector<std::string>{"train \"quoted\".txt", "more/*.jsonl"}));
  c.bitnet.mode = "end_to_end";
  c.hardware.processes = 3;
  EXPECT_EQ(to_json(parse_stage1_config(to_json(c).dump(), "config.json")), to_json(c));
}

TEST(Stage1Config, PartialJsonOverridesOnlyItsKeys) {
  const Stage1Config c = parse_stage1_config(
      R"({"bitnet": {"lr": 0.0003, "schedule": "sigmoid"}, "seedlm": {"K": 12}, "hardware": {"device": "cuda"}})",
      "config.json");
  EXPECT_DOUBLE_EQ(c.bitnet.lr, 3e-4);
  EXPECT_EQ(c.bitnet.schedule, LambdaSchedule::kSigmoid);
  EXPECT_EQ(c.seedlm.K, 12);
  EXPECT_EQ(c.hardware.device, Device::kCuda);
  json expected = to_json(default_stage1_config());
  expected["bitnet"]["lr"] = 0.0003;
  expected["bitnet"]["schedule"] = "sigmoid";
  expected["seedlm"]["K"] = 12;
  expected["hardware"]["device"] = "cuda";
  EXPECT_EQ(to_json(c), expected);
}

TEST(Stage1Config, IntegralFloatsAreAcceptedAsIntegers) {
  EXPECT_EQ(parse_stage1_config(R"({"bitnet": {"epochs": 3.0}})", "c").bitnet.epochs, 3);
}

TEST(Stage1Config, UnknownKeysAreNamedWithAHint) {
  EXPECT_EQ(parse_error(R"({"bitnet": {"lrr": 0.1}})"), "config.json: unknown key 'bitnet.lrr' (did you mean 'bitnet.lr'?)");
  EXPECT_EQ(parse_error(R"({"bitnet": {"warmup_fractoin": 0.1}})"),
            "config.json: unknown key 'bitnet.warmup_fractoin' (did you mean 'bitnet.warmup_fraction'?)");
  EXPECT_EQ(parse_error(R"({"bitnett": {}})"), "config.json: unknown key 'bitnett' (did you mean 'bitnet'?)");
  // Right key, wrong section.
  EXPECT_EQ(parse_error(R"({"bitnet": {"block_size": 8}})"),
            "config.json: unknown key 'bitnet.block_size' (did you mean 'seedlm.block_size'?)");
  EXPECT_EQ(parse_error(R"({"lr": 0.1})"), "config.json: unknown key 'lr' (did you mean 'bitnet.lr'?)");
  // Nothing close: no hint.
  EXPECT_EQ(parse_error(R"({"seedlm": {"zzzzzz": 1}})"), "config.json: unknown key 'seedlm.zzzzzz'");
  EXPECT_EQ(parse_error(R"({"seedlm": {"k": 12}})"), "config.json: unknown key 'seedlm.k' (did you mean 'seedlm.K'?)");
}

TEST(Stage1Config, WrongTypesAreNamed) {
  EXPECT_EQ(parse_error(R"({"bitnet": {"lr": "abc"}})"), "config.json: bitnet.lr must be a number, got string \"abc\"");
  EXPECT_EQ(parse_error(R"({"bitnet": {"epochs": 2.5}})"), "config.json: bitnet.epochs must be an integer, got 2.5");
  EXPECT_EQ(parse_error(R"({"bitnet": {"epochs": "2"}})"),
            "config.json: bitnet.epochs must be an integer, got string \"2\"");
  EXPECT_EQ(parse_error(R"({"bitnet": {"per_row_scale": 1}})"),
            "config.json: bitnet.per_row_scale must be true or false, got number 1");
  EXPECT_EQ(parse_error(R"({"eval": {"text": null}})"), "config.json: eval.text must be a string, got null null");
  EXPECT_EQ(parse_error(R"({"bitnet": 3})"), "config.json: 'bitnet' must be an object, got number 3");
  EXPECT_EQ(parse_error(R"([1, 2])"), "config.json: the config must be a JSON object {...}, got array");
  EXPECT_EQ(parse_error(R"({"encoding": {"float": 16}})"),
            "config.json: encoding.float must be one of \"seedlm\", \"fp16\", \"int8\", got number 16");
  // Too big for the field's integer type.
  EXPECT_EQ(parse_error(R"({"seedlm": {"K": 10000000000}})"),
            "config.json: seedlm.K is out of range [-2147483648, 2147483647], got 10000000000");
  EXPECT_EQ(parse_error(R"({"bitnet": {"seed": -1}})"),
            "config.json: bitnet.seed is out of range [0, 9223372036854775807], got -1");
  EXPECT_EQ(parse_error(R"({"bitnet": {"lr": 1e999}})"), "config.json: invalid JSON: number overflow parsing '1e999'");
}

TEST(Stage1Config, UnknownEnumSpellingsListTheChoices) {
  EXPECT_EQ(parse_error(R"({"bitnet": {"schedule": "cosine"}})"),
            "config.json: bitnet.schedule must be one of \"linear\", \"sigmoid\", \"constant\", got \"cosine\"");
  EXPECT_EQ(parse_error(R"({"bitnet": {"lr_schedule": "linear"}})"),
            "config.json: bitnet.lr_schedule must be one of \"cosine\", \"constant\", got \"linear\"");
  EXPECT_EQ(parse_error(R"({"encoding": {"ternary": "Packed"}})"),
            "config.json: encoding.ternary must be one of \"packed\", \"seedlm\", got \"Packed\"");
  EXPECT_EQ(parse_error(R"({"encoding": {"vector": "bf16"}})"),
            "config.json: encoding.vector must be one of \"fp16\", \"fp32\", got \"bf16\"");
  EXPECT_EQ(parse_error(R"({"hardware": {"device": "gpu"}})"),
            "config.json: hardware.device must be one of \"cpu\", \"cuda\", got \"gpu\"");
}

TEST(Stage1Config, OutOfRangeValuesNameTheKeyAndTheRange) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"bitnet": {"warmup_fraction": 1.5}})", "config.json: bitnet.warmup_fraction must be in [0, 1], got 1.5"},
      {R"({"bitnet": {"warmup_fraction": -0.1}})", "config.json: bitnet.warmup_fraction must be in [0, 1], got -0.1"},
      {R"({"bitnet": {"lr": -0.0001}})", "config.json: bitnet.lr must be >= 0, got -0.0001"},
      {R"({"bitnet": {"epochs": -1}})", "config.json: bitnet.epochs must be >= 0, got -1"},
      {R"({"bitnet": {"max_steps": -5}})", "config.json: bitnet.max_steps must be >= 0, got -5"},
      {R"({"bitnet": {"batch_size": 0}})", "config.json: bitnet.batch_size must be >= 1, got 0"},
      {R"({"bitnet": {"grad_accum": 0}})", "config.json: bitnet.grad_accum must be >= 1, got 0"},
      {R"({"bitnet": {"seq_len": 0}})", "config.json: bitnet.seq_len must be >= 1, got 0"},
      {R"({"bitnet": {"beta2": 1.0}})", "config.json: bitnet.beta2 must be in [0, 1), got 1"},
      {R"({"bitnet": {"weight_decay": -1}})", "config.json: bitnet.weight_decay must be >= 0, got -1"},
      {R"({"bitnet": {"activation_bits": 1}})",
       "config.json: bitnet.activation_bits must be 0 (off) or in [2, 16], got 1"},
      {R"({"bitnet": {"activation_bits": 17}})",
       "config.json: bitnet.activation_bits must be 0 (off) or in [2, 16], got 17"},
      {R"({"bitnet": {"kd_temperature": 0}})", "config.json: bitnet.kd_temperature must be > 0, got 0"},
      {R"({"bitnet": {"per_row_scale": true, "scale_group": -8}})", "config.json: bitnet.scale_group must be >= 0, got -8"},
      {R"({"bitnet": {"scale_group": 32}})",
       "config.json: bitnet.scale_group (32) splits per-row scales: it needs bitnet.per_row_scale true"},
      {R"({"bitnet": {"valid_fraction": 1}})", "config.json: bitnet.valid_fraction must be in [0, 1), got 1"},
      {R"({"bitnet": {"float_freeze_fraction": 1.5}})", "config.json: bitnet.float_freeze_fraction must be in [0, 1], got 1.5"},
      {R"({"bitnet": {"synthetic_tokens": -1}})", "config.json: bitnet.synthetic_tokens must be >= 0, got -1"},
      {R"({"bitnet": {"synthetic_temperature": 0}})", "config.json: bitnet.synthetic_temperature must be > 0, got 0"},
      {R"({"bitnet": {"mode": "layerwise"}})", "config.json: bitnet.mode must be \"end_to_end\" or \"blockwise\", got \"layerwise\""},
      {R"({"bitnet": {"block_inputs": "teacher"}})", "config.json: bitnet.block_inputs must be \"converted\" or \"original\", got \"teacher\""},
      {R"({"bitnet": {"block_windows": 0}})", "config.json: bitnet.block_windows must be >= 1, got 0"},
      {R"({"seedlm": {"K": 1}})", "config.json: seedlm.K must be in [2, 24], got 1"},
      {R"({"seedlm": {"K": 25}})", "config.json: seedlm.K must be in [2, 24], got 25"},
      {R"({"seedlm": {"Q": 9}})", "config.json: seedlm.Q must be in [2, 8], got 9"},
      {R"({"seedlm": {"E": 1}})", "config.json: seedlm.E must be in [2, 8], got 1"},
      {R"({"seedlm": {"block_size": 0}})", "config.json: seedlm.block_size must be >= 1, got 0"},
      {R"({"seedlm": {"latent_dim": 9}})", "config.json: seedlm.latent_dim must be in [1, 8], got 9"},
      {R"({"seedlm": {"K": 4, "seed_candidates": 16}})",
       "config.json: seedlm.seed_candidates must be in [0, 15], got 16"},
      {R"({"eval": {"max_docs": -1}})", "config.json: eval.max_docs must be >= 0, got -1"},
      {R"({"constraints": {"target_compression_ratio": 0}})",
       "config.json: constraints.target_compression_ratio must be > 0, got 0"},
      {R"({"constraints": {"max_accuracy_drop": 1}})",
       "config.json: constraints.max_accuracy_drop must be in [0, 1), got 1"},
      {R"({"hardware": {"max_vram_gb": 0}})", "config.json: hardware.max_vram_gb must be > 0, got 0"},
      {R"({"hardware": {"threads": -2}})", "config.json: hardware.threads must be >= 0, got -2"},
      {R"({"hardware": {"processes": 0}})", "config.json: hardware.processes must be in [1, 1024], got 0"},
      {R"({"hardware": {"processes": 2}, "bitnet": {"mode": "blockwise"}})",
       "config.json: hardware.processes is 2, but bitnet.mode \"blockwise\" trains one block at a time in one process: "
       "set processes 1"},
      {R"({"hardware": {"backend": "mpi"}})",
       "config.json: hardware.backend must be \"auto\", \"gloo\" or \"nccl\", got \"mpi\""},
      {R"({"hardware": {"backend": "nccl"}})",
       "config.json: hardware.backend \"nccl\" needs hardware.device \"cuda\" (NCCL reduces GPU tensors only)"},
      {R"({"hardware": {"dist_timeout_s": 0}})", "config.json: hardware.dist_timeout_s must be > 0, got 0"},
      {R"({"hardware": {"dist_bucket_mb": -2}})", "config.json: hardware.dist_bucket_mb must be -1 (auto) or >= 0, got -2"},
      {R"({"hardware": {"loss_chunk_tokens": -3}})",
       "config.json: hardware.loss_chunk_tokens must be -1 (auto), 0 (off) or a token count, got -3"},
      {R"({"output": {"metrics_port": 65536}})", "config.json: output.metrics_port must be in [0, 65535], got 65536"},
      {R"({"output": {"metrics_port": -1}})", "config.json: output.metrics_port must be in [0, 65535], got -1"},
      {R"({"output": {"metrics_host": ""}})",
       "config.json: output.metrics_host must not be empty (127.0.0.1 = this machine only)"},
      {R"({"output": {"pushgateway_url": "gw:9091"}})",
       "config.json: output.pushgateway_url must start with http:// or https://, got \"gw:9091\""},
  };
  for (const auto& [text, message] : cases) EXPECT_EQ(parse_error(text), message) << text;
}

TEST(Stage1Config, RangeEdgesAreAccepted) {
  for (const char* text : {R"({"bitnet": {"activation_bits": 0}})", R"({"bitnet": {"activation_bits": 2}})",
                           R"({"bitnet": {"activation_bits": 16}})", R"({"bitnet": {"warmup_fraction": 0}})",
                           R"({"bitnet": {"warmup_fraction": 1}})", R"({"seedlm": {"K": 2, "Q": 8, "E": 2}})",
                           R"({"seedlm": {"K": 24, "seed_candidates": 16777215}})",
                           R"({"seedlm": {"latent_dim": 8}})", R"({"output": {"metrics_port": 65535}})",
                           R"({"bitnet": {"lr": 0, "epochs": 0}})",
                           R"({"output": {"pushgateway_url": "https://gw.example:9091"}})",
                           R"({"hardware": {"device": "cuda", "backend": "nccl", "dist_timeout_s": 0.5}})"}) {
    EXPECT_NO_THROW(parse_stage1_config(text, "config.json")) << text;
  }
}

TEST(Stage1Config, ValidateWorksOnStructsToo) {
  Stage1Config c;
  c.seedlm.Q = 1;
  EXPECT_EQ(error_of([&] { validate(c); }), "config: seedlm.Q must be in [2, 8], got 1");
  EXPECT_EQ(error_of([&] { validate(c, "run.json"); }), "run.json: seedlm.Q must be in [2, 8], got 1");
}

TEST(Stage1Config, SyntaxErrorsNameFileLineAndByte) {
  const std::string what = parse_error("{\n  \"bitnet\": {\n    \"lr\": 1e-4,\n  }\n}");
  EXPECT_EQ(what.rfind("config.json: invalid JSON (byte ", 0), 0u) << what;
  EXPECT_NE(what.find("line 4"), std::string::npos) << what;
  EXPECT_EQ(parse_error(R"({"bitnet": {"lr": 1, "lr": 2}})"), "config.json: duplicate key 'bitnet.lr'");
  EXPECT_NE(parse_error("").find("config.json: invalid JSON"), std::string::npos);
}

class Stage1ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("seedforge_config_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(Stage1ConfigFile, LoadsAFileAndNamesItInErrors) {
  const std::string path = (dir_ / "run.json").string();
  std::ofstream(path) << R"({"seedlm": {"K": 20}, "output": {"metrics_port": 9100}})";
  const Stage1Config c = load_stage1_config(path);
  EXPECT_EQ(c.seedlm.K, 20);
  EXPECT_EQ(c.output.metrics_port, 9100);

  std::ofstream(path) << R"({"seedlm": {"K": 30}})";
  EXPECT_EQ(error_of([&] { load_stage1_config(path); }), path + ": seedlm.K must be in [2, 24], got 30");
}

TEST_F(Stage1ConfigFile, MissingFileIsAnInputError) {
  const std::string path = (dir_ / "nope.json").string();
  EXPECT_EQ(error_of([&] { load_stage1_config(path); }, ErrorKind::kInput),
            "config file '" + path + "' does not exist");
  EXPECT_EQ(error_of([&] { load_stage1_config(dir_.string()); }, ErrorKind::kInput),
            "config file '" + dir_.string() + "' is a folder");
}

// Reference FNV-1a 64, checked against the published test vectors below.
uint64_t fnv1a64(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

TEST(ConfigFingerprint, IsFnv1aOfTheCanonicalModelShapingSettings) {
  ASSERT_EQ(fnv1a64(""), 0xcbf29ce484222325ull);
  ASSERT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  ASSERT_EQ(fnv1a64("foobar"), 0x85944171f73967e8ull);

  const Stage1Config c = default_stage1_config();
  json j = to_json(c);
  for (const char* key : {"eval_every", "checkpoint_every", "checkpoint_dir", "token_cache_dir", "teacher_cache_mb"}) {
    j["bitnet"].erase(key);
  }
  j["seedlm"].erase("threads");
  for (const char* section : {"eval", "hardware", "output"}) j.erase(section);
  char expected[17];
  std::snprintf(expected, sizeof(expected), "%016llx", static_cast<unsigned long long>(fnv1a64(j.dump())));
  EXPECT_EQ(config_fingerprint(c), expected);
}

TEST(ConfigFingerprint, ChangesWithModelSettingsOnly) {
  const Stage1Config base = default_stage1_config();
  const std::string fp = config_fingerprint(base);
  EXPECT_EQ(fp.size(), 16u);
  EXPECT_EQ(config_fingerprint(parse_stage1_config(to_json(base).dump(), "c")), fp);

  Stage1Config changed = base;
  changed.bitnet.lr = 2e-4;
  EXPECT_NE(config_fingerprint(changed), fp);
  changed = base;
  changed.seedlm.K = 12;
  EXPECT_NE(config_fingerprint(changed), fp);
  changed = base;
  changed.encoding.vector = VectorEncoding::kFp32;
  EXPECT_NE(config_fingerprint(changed), fp);
  changed = base;
  changed.bitnet.teacher_top_k = 32;
  EXPECT_NE(config_fingerprint(changed), fp);

  // Watching and placement settings may change between a run and its resume.
  Stage1Config same = base;
  same.bitnet.eval_every = 10;
  same.bitnet.checkpoint_every = 100;
  same.bitnet.checkpoint_dir = "elsewhere";
  same.bitnet.teacher_cache_mb = 0;  // where the teacher's targets are kept, not what they are
  same.seedlm.threads = 7;
  same.eval.max_docs = 5;
  same.hardware.device = Device::kCuda;
  same.output.log_file = "x.log";
  same.output.metrics_port = 9100;
  EXPECT_EQ(config_fingerprint(same), fp);
}

TEST(Stage1Config, ResolvesEmptyPathsToDefaults) {
  Stage1Config c;
  EXPECT_EQ(resolve_log_file(c, "out/model.stage1.pt"), "out/stage1_compression.log");
  EXPECT_EQ(resolve_log_file(c, "model.stage1.pt"), "stage1_compression.log");
  ASSERT_EQ(resolve_train_text(c).size(), 1u);
  const std::string train = resolve_train_text(c)[0];
  const std::string valid = resolve_eval_text(c);
  EXPECT_EQ(train.substr(train.size() - 26), "text/tinystories/train.txt");
  EXPECT_EQ(valid.substr(valid.size() - 26), "text/tinystories/valid.txt");
  EXPECT_TRUE(std::filesystem::exists(train)) << train << " (is SEEDFORGE_DATA set?)";
  // A relative entry that is not there from the current folder comes from the data folder.
  Stage1Config in_data;
  in_data.bitnet.train_text = {"text/tinystories/train.txt", "text/tinystories/train_mo*.txt"};
  ASSERT_FALSE(std::filesystem::exists("text/tinystories")) << "run from a folder without text/tinystories";
  const std::vector<std::string> found = resolve_train_text(in_data);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(std::filesystem::weakly_canonical(found[0]), std::filesystem::weakly_canonical(train));
  EXPECT_EQ(found[1].substr(found[1].size() - 31), "text/tinystories/train_more.txt");
  in_data.bitnet.train_text = {"text/tinystories/nothing.txt"};
  EXPECT_THROW(resolve_train_text(in_data), Error);
  c.output.log_file = "my.log";
  c.bitnet.train_text = {valid};
  c.eval.text = "v.txt";
  EXPECT_EQ(resolve_log_file(c, "out/model.stage1.pt"), "my.log");
  EXPECT_EQ(resolve_train_text(c), std::vector<std::string>{valid});
  EXPECT_EQ(resolve_eval_text(c), "v.txt");
}

TEST(Stage1Config, EnumSpellings) {
  EXPECT_EQ(to_string(LambdaSchedule::kSigmoid), "sigmoid");
  EXPECT_EQ(to_string(LrSchedule::kCosine), "cosine");
  EXPECT_EQ(to_string(TernaryEncoding::kSeedlm), "seedlm");
  EXPECT_EQ(to_string(FloatEncoding::kFp16), "fp16");
  EXPECT_EQ(to_string(VectorEncoding::kFp32), "fp32");
  EXPECT_EQ(to_string(Device::kCuda), "cuda");
}

}  // namespace
}  // namespace seedforge

namespace seedforge {
namespace {

// docs/CONFIG.md stays in step with the code: every key has a table row under
// its section's heading, and the example parses.
TEST(ConfigDocs, ListEveryKeyAndParseTheExample) {
  const std::string doc = read_file_text(std::string(SEEDFORGE_SOURCE_DIR) + "/docs/CONFIG.md");
  const json j = to_json(default_stage1_config());
  for (const auto& section : j.items()) {
    const size_t heading = doc.find("### `" + section.key() + "`");
    ASSERT_NE(heading, std::string::npos) << "no heading for section " << section.key();
    const size_t next = doc.find("\n### ", heading + 1);
    const std::string body = doc.substr(heading, next == std::string::npos ? std::string::npos : next - heading);
    for (const auto& item : section.value().items()) {
      EXPECT_NE(body.find("\n| `" + item.key() + "` |"), std::string::npos)
          << section.key() << "." << item.key() << " is not documented";
    }
  }
  const size_t start = doc.find("```json\n");
  ASSERT_NE(start, std::string::npos);
  const size_t end = doc.find("```", start + 8);
  EXPECT_NO_THROW(parse_stage1_config(doc.substr(start + 8, end - start - 8), "docs/CONFIG.md example"));
}

}  // namespace
}  // namespace seedforge
