#include <torch/torch.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include "common/data_paths.h"
#include "io/model_loader.h"
#include "runtime/threads.h"
#include "train/bit_linear.h"
#include "train/train_data.h"
#include "train/trainer.h"
using namespace seedforge;
int main(int argc, char** argv) {
  configure_threads(1);
  TrainOptions o; o.batch_size = 8; o.seq_len = 256; o.kd_weight = 0.5; o.grad_accum = 1; o.lr = 1e-3;
  o.activation_bits = argc > 1 ? atoi(argv[1]) : 8;
  LoadedModel loaded = load_model(data_path("models/stories260K/stories260K.bin"), data_path("models/stories260K/tok512.bin"));
  const TrainData data = load_train_data(data_path("text/tinystories/train.txt"), "", *loaded.tokenizer, o, 512);
  Transformer teacher = make_teacher(loaded.model);
  Transformer student = loaded.model;
  convert_to_bitnet(student, bitnet_options(o));
  set_bitnet_lambda(student, 0.5);
  auto opt = make_optimizer(student, o);
  auto stream = torch::tensor(data.stream, torch::kInt64);
  auto windows = stream.as_strided({data.windows, o.seq_len + 1}, {o.seq_len, 1});
  std::vector<torch::Tensor> batch = {windows.narrow(0, 0, 8).clone()};
  for (int i = 0; i < 2; ++i) optimizer_step(student, &teacher, batch, *opt, 1e-3, o, false, false, "x");
  {
    torch::autograd::profiler::RecordProfile guard("/tmp/ft/trace.json");
    for (int i = 0; i < 3; ++i) optimizer_step(student, &teacher, batch, *opt, 1e-3, o, false, false, "x");
  }
}
