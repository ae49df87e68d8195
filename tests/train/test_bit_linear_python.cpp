// BitLinear forward and straight-through gradients against an independent
// PyTorch implementation (tests/python/bitlinear_reference.py, written from the
// formulas with the .detach() form of the estimator): per-tensor and per-row
// scales, 8-bit, 4-bit and full-precision activations, the input norm, and
// lambda 0, 0.5, 0.7 and 1.
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "train/bit_linear.h"

using namespace seedforge;

namespace {

torch::Tensor read_f32(const std::string& path, const std::vector<int64_t>& shape) {
  std::ifstream in(path, std::ios::binary);
  auto t = torch::empty(shape, torch::kFloat32);
  in.read(reinterpret_cast<char*>(t.data_ptr<float>()), t.numel() * 4);
  EXPECT_TRUE(in.good()) << path;
  return t;
}

// Named tolerance: the reference rounds x + lam * (q - x) where we return q at
// lam = 1, and sums in another order; differences stay at float rounding.
constexpr double kTolerance = 2e-5;

}  // namespace

TEST(BitLinearPython, ForwardAndGradientsMatchPyTorch) {
  test::TempDir dir;
  const std::string script = std::string(SEEDFORGE_SOURCE_DIR) + "/tests/python/bitlinear_reference.py";
  const auto r = test::run_command(test::python() + " " + script + " " + dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream manifest_in(dir.file("manifest.json"));
  const auto manifest = nlohmann::json::parse(manifest_in);
  ASSERT_EQ(manifest.size(), 7u);
  for (const auto& c : manifest) {
    const std::string name = c["name"];
    auto load = [&](const char* key) {
      return read_f32(dir.file(name + "." + key + ".f32"), c["shapes"][key].get<std::vector<int64_t>>());
    };
    BitNetOptions options;
    options.per_row_scale = c["per_row"];
    options.activation_bits = c["bits"];
    options.input_norm = c["input_norm"];
    LinearLayer layer = make_bit_linear(load("w"), torch::Tensor(), options);
    dynamic_cast<BitLinearImpl*>(layer.ptr().get())->set_lambda(c["lambda"].get<double>());
    const auto x = load("x").requires_grad_(true);
    const auto y = layer->forward(x);
    (y * load("g")).sum().backward();
    const double dy = (y - load("y")).abs().max().item<double>();
    const double dgx = (x.grad() - load("gx")).abs().max().item<double>();
    const double dgw = (layer->weight.grad() - load("gw")).abs().max().item<double>();
    std::printf("python %-15s max |dy| %.2e  |dgx| %.2e  |dgw| %.2e\n", name.c_str(), dy, dgx, dgw);
    EXPECT_LT(dy, kTolerance) << name;
    EXPECT_LT(dgx, kTolerance) << name;
    EXPECT_LT(dgw, kTolerance) << name;
  }
}
