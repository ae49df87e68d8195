#include <torch/torch.h>
#include <chrono>
#include <torch/csrc/autograd/profiler_legacy.h>
#include "common/data_paths.h"
#include "io/model_loader.h"
#include "runtime/threads.h"
#include "train/bit_linear.h"
#include "train/train_data.h"
#include "train/train_forward.h"
#include "train/trainer.h"
using namespace seedforge;
using C = std::chrono::steady_clock;
int main(int argc, char** argv) {
  configure_threads(1);
  TrainOptions o; o.batch_size = 8; o.seq_len = 256; o.kd_weight = 0.5; o.grad_accum = 1; o.lr = 1e-3;
  o.activation_bits = argc > 1 ? atoi(argv[1]) : 8;
  LoadedModel loaded = load_model(data_path("models/stories260K/stories260K.bin"), data_path("models/stories260K/tok512.bin"));
  Transformer teacher = make_teacher(loaded.model);
  Transformer student = loaded.model;
  convert_to_bitnet(student, bitnet_options(o));
  set_bitnet_lambda(student, 0.5);
  auto opt = make_optimizer(student, o);
  auto batch = torch::randint(0, 512, {8, 257}, torch::kInt64);
  auto inputs = batch.narrow(1, 0, 256);
  auto targets = batch.narrow(1, 1, 256).reshape({-1});
  double t[6] = {0};
  for (int i = 0; i < 15; ++i) {
    auto a = C::now();
    auto logits = training_logits(student, inputs, false, false).view({-1, 512});
    auto b = C::now();
    torch::Tensor tl;
    { torch::NoGradGuard ng; tl = torch::log_softmax(training_logits(teacher, inputs, false, false).view({-1, 512}), -1); }
    auto c = C::now();
    auto loss = torch::nn::functional::cross_entropy(logits, targets) + 0.5 * (tl.exp() * (tl - torch::log_softmax(logits, -1))).sum(-1).mean();
    auto d = C::now();
    opt->zero_grad();
    loss.backward();
    auto e = C::now();
    opt->step();
    auto f = C::now();
    if (i >= 3) {
      t[0] = std::min(t[0] == 0 ? 1e9 : t[0], std::chrono::duration<double>(b - a).count()); t[1] = std::min(t[1] == 0 ? 1e9 : t[1], std::chrono::duration<double>(c - b).count());
      t[2] = std::min(t[2] == 0 ? 1e9 : t[2], std::chrono::duration<double>(d - c).count()); t[3] = std::min(t[3] == 0 ? 1e9 : t[3], std::chrono::duration<double>(e - d).count());
      t[4] = std::min(t[4] == 0 ? 1e9 : t[4], std::chrono::duration<double>(f - e).count());
    }
  }
  printf("student fwd %.1f teacher fwd %.1f loss %.1f backward %.1f adamw %.1f ms\n", t[0]*1e3, t[1]*1e3, t[2]*1e3, t[3]*1e3, t[4]*1e3);
  // model->forward for comparison
  double tm = 0, tt = 0;
  for (int i = 0; i < 5; ++i) {
    auto a = C::now(); auto l = student->forward(inputs); auto b = C::now(); auto l2 = training_logits(student, inputs, false, false); auto c = C::now();
    tm += std::chrono::duration<double>(b - a).count(); tt += std::chrono::duration<double>(c - b).count();
  }
  {
    torch::autograd::profiler::RecordProfile guard("/tmp/ft/trace.json");
    for (int i = 0; i < 3; ++i) {
      auto logits = training_logits(student, inputs, false, false).view({-1, 512});
      torch::Tensor tl;
      { torch::NoGradGuard ng; tl = torch::log_softmax(training_logits(teacher, inputs, false, false).view({-1, 512}), -1); }
      auto loss = torch::nn::functional::cross_entropy(logits, targets) + 0.5 * (tl.exp() * (tl - torch::log_softmax(logits, -1))).sum(-1).mean();
      opt->zero_grad(); loss.backward(); opt->step();
    }
  }
  printf("model->forward %.1f ms, training_logits %.1f ms (grad mode)\n", tm / 5e-3, tt / 5e-3);
}
