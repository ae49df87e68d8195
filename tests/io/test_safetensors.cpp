// safetensors: round trips, unaligned data sections, sharded checkpoints, and
// a corrupt-file fixture for every header check the reader makes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io/hf_config.h"
#include "io/safetensors.h"
#include "io_test_model.h"
#include "io_test_util.h"

namespace seedforge {
namespace {

using test::TempDir;

// 8-byte length + header + data, exactly as given (no padding).
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  test::put_le(out, 0, header.size(), 8);
  return out + header + data;
}

TEST(Safetensors, RoundTripsEveryDtypeWithMetadata) {
  TempDir dir;
  torch::manual_seed(5);
  const StateDict sd = {
      {"f32", torch::randn({3, 4})},
      {"f16", torch::randn({5}).to(torch::kFloat16)},
      {"bf16", torch::randn({2, 2}).to(torch::kBFloat16)},
      {"f64", torch::randn({3}, torch::kFloat64)},
      {"i64", torch::tensor({INT64_MIN, int64_t{0}, INT64_MAX})},
      {"i32", torch::tensor({-1, 2, 3})},
      {"i16", torch::tensor({-2, 3}).to(torch::kInt16)},
      {"i8", torch::tensor({-128, 127}).to(torch::kInt8)},
      {"u8", torch::arange(256).to(torch::kUInt8)},
      {"bool", torch::tensor({1, 0}).to(torch::kBool)},
      {"empty", torch::zeros({0, 3})},
      {"scalar", torch::tensor(1.25)},
      {"transposed", torch::arange(6, torch::kFloat32).reshape({2, 3}).t()},  // written contiguous
  };
  write_safetensors(dir.file("a.safetensors"), sd, {{"format", "pt"}, {"note", "h\xC3\xA9"}});
  const std::string bytes = test::read_bytes(dir.file("a.safetensors"));
  EXPECT_EQ((8 + test::get_le(bytes, 0, 8)) % 8, 0u);  // data section aligned

  SafetensorsReader reader(dir.file("a.safetensors"));
  EXPECT_EQ(reader.metadata().at("format"), "pt");
  EXPECT_EQ(reader.metadata().at("note"), "h\xC3\xA9");
  ASSERT_EQ(reader.entries().size(), sd.size());
  EXPECT_EQ(reader.find("bf16")->dtype, "BF16");
  EXPECT_EQ(reader.find("nope"), nullptr);
  test::expect_same_state_dict(read_safetensors(dir.file("a.safetensors")), sd);

  const StateDict f32 = read_safetensors(dir.file("a.safetensors"), torch::kFloat32);
  EXPECT_TRUE(torch::equal(f32[2].second, sd[2].second.to(torch::kFloat32)));
  EXPECT_EQ(f32[2].second.scalar_type(), torch::kFloat32);
}

TEST(Safetensors, ReadsUnalignedDataSections) {
  TempDir dir;
  // A 61-byte header puts the data at file offset 69: every fp32 tensor is misaligned.
  const std::string values = std::string("\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40", 12);  // 1, 2, 3
  std::string header = R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})";
  header.append(61 - header.size(), ' ');
  test::write_bytes(dir.file("u.safetensors"), safetensors_bytes(header, values));
  const StateDict sd = read_safetensors(dir.file("u.safetensors"));
  EXPECT_TRUE(torch::equal(sd[0].second, torch::tensor({1.0f, 2.0f, 3.0f})));
  const StateDict h = read_safetensors(dir.file("u.safetensors"), torch::kFloat16);
  EXPECT_TRUE(torch::equal(h[0].second, torch::tensor({1.0f, 2.0f, 3.0f}).to(torch::kFloat16)));
}

TEST(Safetensors, RejectsCorruptHeaders) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  auto check = [&](const std::string& bytes, const std::vector<std::string>& needles) {
    test::write_bytes(path, bytes);
    std::vector<std::string> all = needles;
    all.push_back("bad.safetensors");
    test::expect_input_error([&] { SafetensorsReader r(path); }, all);
  };
  const std::string data16(16, '\0');
  auto entry = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return R"("w":{"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
  };
  check("abc", {"at least 8"});
  std::string past(8, '\0');
  test::put_le(past, 0, 1000, 8);
  check(past + "{}", {"header length 1000", "past the end"});
  check(safetensors_bytes("{\"a\xff\":1}", ""), {"not valid UTF-8"});
  check(safetensors_bytes("{\"w\": [1, 2", ""), {"not valid JSON"});
  check(safetensors_bytes("[1, 2]", ""), {"not a JSON object"});
  check(safetensors_bytes("{" + entry("F8_E4M3", "[4]", "[0,4]") + "}", data16), {"tensor 'w'", "F8_E4M3"});
  check(safetensors_bytes("{" + entry("F32", "[8]", "[0,32]") + "}", data16), {"tensor 'w'", "out of range"});
  check(safetensors_bytes("{" + entry("F32", "[1]", "[8,4]") + "}", data16), {"tensor 'w'", "out of range"});
  check(safetensors_bytes("{" + entry("F32", "[3]", "[0,16]") + "}", data16), {"tensor 'w'", "needs 12 bytes", "span 16"});
  check(safetensors_bytes("{" + entry("F32", "[-1]", "[0,4]") + "}", data16), {"tensor 'w'", "non-negative"});
  check(safetensors_bytes("{" + entry("F32", "[4611686018427387904, 4]", "[0,16]") + "}", data16), {"tensor 'w'", "span 16"});
  check(safetensors_bytes("{" + entry("F32", "[2]", "[0]") + "}", data16), {"tensor 'w'", "data_offsets"});
  check(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2]}})", data16), {"tensor 'w'", "data_offsets"});
  check(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", data16),
        {"'a'", "'b'", "overlap"});
  check(safetensors_bytes("{" + entry("F32", "[1]", "[0,4]") + "," + entry("F32", "[1]", "[4,8]") + "}", data16),
        {"'w' twice"});
  check(safetensors_bytes(R"({"__metadata__":{"k":1}})", ""), {"__metadata__", "'k'"});
}

TEST(Safetensors, WriterRefusesBadNames) {
  TempDir dir;
  test::expect_error([&] { write_safetensors(dir.file("x.safetensors"), {{"a", torch::zeros({1})}, {"a", torch::zeros({1})}}); },
                     ErrorKind::kRuntime, {"'a'"});
  test::expect_error([&] { write_safetensors(dir.file("x.safetensors"), {{"__metadata__", torch::zeros({1})}}); },
                     ErrorKind::kRuntime, {"__metadata__"});
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(Safetensors, ShardedIndex) {
  TempDir dir;
  const ModelConfig config = test::tiny_config();
  const StateDict sd = test::tiny_state_dict(config);
  const size_t half = sd.size() / 2;
  const StateDict a(sd.begin(), sd.begin() + static_cast<std::ptrdiff_t>(half));
  StateDict b(sd.begin() + static_cast<std::ptrdiff_t>(half), sd.end());
  for (auto& kv : b) kv.second = kv.second.to(torch::kBFloat16);
  write_safetensors(dir.file("model-00001-of-00002.safetensors"), a);
  write_safetensors(dir.file("model-00002-of-00002.safetensors"), b);
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", 0}};
  for (size_t i = 0; i < sd.size(); ++i) {
    index["weight_map"][sd[i].first] = i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  test::write_bytes(dir.file("model.safetensors.index.json"), index.dump());
  const StateDict back = read_safetensors_sharded(dir.file("model.safetensors.index.json"), torch::kFloat32);
  ASSERT_EQ(back.size(), sd.size());
  for (size_t i = 0; i < sd.size(); ++i) {
    EXPECT_EQ(back[i].first, sd[i].first);
    const torch::Tensor expected = i < half ? sd[i].second : sd[i].second.to(torch::kBFloat16).to(torch::kFloat32);
    EXPECT_TRUE(torch::equal(back[i].second, expected)) << sd[i].first;
  }

  index["weight_map"]["extra.weight"] = "model-00001-of-00002.safetensors";
  test::write_bytes(dir.file("model.safetensors.index.json"), index.dump());
  test::expect_input_error([&] { read_safetensors_sharded(dir.file("model.safetensors.index.json"), torch::kFloat32); },
                           {"'extra.weight'", "model-00001-of-00002.safetensors"});
  index["weight_map"]["extra.weight"] = "../model.safetensors";
  test::write_bytes(dir.file("model.safetensors.index.json"), index.dump());
  test::expect_input_error([&] { read_safetensors_sharded(dir.file("model.safetensors.index.json"), torch::kFloat32); },
                           {"'../model.safetensors'", "not a plain file name"});
}

TEST(Safetensors, SingleFileCheckpoint) {
  TempDir dir;
  const ModelConfig config = test::tiny_config(/*tied=*/false);
  const StateDict sd = test::tiny_state_dict(config);
  StateDict half;
  for (const auto& kv : sd) half.emplace_back(kv.first, kv.second.to(torch::kFloat16));
  write_safetensors(dir.file("m.safetensors"), half);
  test::write_bytes(dir.file("config.json"), hf_config_json(config));
  const Checkpoint ck = load_safetensors_checkpoint(dir.file("m.safetensors"));
  EXPECT_EQ(ck.format, "safetensors");
  test::expect_same_config(ck.config, config);
  ASSERT_EQ(ck.tensors.size(), sd.size());
  for (size_t i = 0; i < sd.size(); ++i) {
    EXPECT_EQ(ck.tensors[i].second.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::equal(ck.tensors[i].second, half[i].second.to(torch::kFloat32))) << sd[i].first;
  }
  half[0].second = half[0].second.to(torch::kInt8);
  write_safetensors(dir.file("m.safetensors"), half);
  test::expect_input_error([&] { load_safetensors_checkpoint(dir.file("m.safetensors")); },
                           {"m.safetensors", "model.embed_tokens.weight", "I8"});
}

}  // namespace
}  // namespace seedforge
