// Fine-tuning on CUDA (label gpu; skipped where libtorch sees no CUDA device).
// The CPU trainer is the reference: a CUDA run in fp32 must follow the CPU
// run's losses, activation checkpointing must not change them, bf16 must stay
// close, and the measured peak of the CUDA allocator must stay under the
// memory estimate that the trainer checks against max_vram_gb.
#include <torch/torch.h>

#include "eval/documents.h"
#include "eval/peak_memory.h"
#include "eval/text_eval.h"
#include "io/model_loader.h"
#include "test_util.h"
#include "train/train_test_util.h"
#include "train/bit_linear.h"
#include "train/trainer.h"

using namespace seedforge;

namespace {

const test::StoriesFixture& fixture() { return test::stories_fixture(80); }

TrainOptions options_on(const std::string& device, int bf16, int checkpointing) {
  TrainOptions o;
  o.seq_len = 64;
  o.batch_size = 4;
  o.grad_accum = 2;
  o.max_steps = 4;
  o.lr = 2e-3;
  o.kd_weight = 0.5;
  o.device = device;
  o.bf16 = bf16;
  o.activation_checkpointing = checkpointing;
  return o;
}

struct TrainedStudent {
  FinetuneResult result;
  Transformer student{nullptr};
};

TrainedStudent train(const TrainOptions& o) {
  const test::StoriesFixture& f = fixture();
  const TrainData data = make_train_data(f.docs, "train.txt[:80]", {}, "", *f.loaded.tokenizer, o, 512);
  TrainedStudent run;
  run.student = build_model(f.loaded.model->config(), model_state_dict(f.loaded.model), "student");
  convert_to_bitnet(run.student, bitnet_options(o));
  Transformer teacher = make_teacher(f.loaded.model);
  run.result = finetune_bitnet(run.student, &teacher, data, o);
  return run;
}

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible to libtorch"

}  // namespace

TEST(TrainerCuda, Fp32FollowsTheCpuRun) {
  SKIP_WITHOUT_CUDA();
  TrainedStudent cpu = train(options_on("cpu", 0, 0));
  TrainedStudent gpu = train(options_on("cuda", 0, 0));
  ASSERT_EQ(cpu.result.losses.size(), gpu.result.losses.size());
  // Step 1 sees identical weights; later steps may differ by a trit that
  // float rounding moved across a threshold, hence the looser bound.
  EXPECT_NEAR(cpu.result.losses[0], gpu.result.losses[0], 1e-4 * cpu.result.losses[0]);
  for (size_t i = 1; i < cpu.result.losses.size(); ++i) {
    EXPECT_NEAR(cpu.result.losses[i], gpu.result.losses[i], 1e-2 * cpu.result.losses[i]) << "step " << i;
  }
  // The trained CUDA student evaluates like the CPU one on the same text.
  const auto& tok = *fixture().loaded.tokenizer;
  const auto docs = tokenize_documents(std::vector<std::string>(fixture().docs.begin(), fixture().docs.begin() + 10), tok, 0);
  TextEvalOptions eo;
  const double top1_cpu = evaluate_documents(cpu.student, docs, eo).top1;
  eo.device = torch::Device(torch::kCUDA);
  const double top1_gpu = evaluate_documents(gpu.student, docs, eo).top1;
  EXPECT_NEAR(top1_cpu, top1_gpu, 0.01);
}

TEST(TrainerCuda, CheckpointingKeepsTheLossesAndBf16StaysClose) {
  SKIP_WITHOUT_CUDA();
  const TrainedStudent plain = train(options_on("cuda", 0, 0));
  const TrainedStudent checkpointed = train(options_on("cuda", 0, 1));
  const TrainedStudent bf16 = train(options_on("cuda", 1, 1));
  for (size_t i = 0; i < plain.result.losses.size(); ++i) {
    EXPECT_NEAR(plain.result.losses[i], checkpointed.result.losses[i], 1e-4 * plain.result.losses[i]) << "step " << i;
    EXPECT_NEAR(plain.result.losses[i], bf16.result.losses[i], 0.05 * plain.result.losses[i]) << "step " << i;
  }
}

TEST(TrainerCuda, PeakMemoryStaysUnderTheEstimate) {
  SKIP_WITHOUT_CUDA();
  ASSERT_TRUE(cuda_memory_stats_available());
  for (int checkpointing : {0, 1}) {
    reset_peak_cuda_bytes(0);
    const TrainedStudent run = train(options_on("cuda", 1, checkpointing));
    const int64_t peak = peak_cuda_bytes(0);
    std::printf("checkpointing %d: peak CUDA allocation %lld bytes, estimate %s\n", checkpointing,
                static_cast<long long>(peak), run.result.memory.describe().c_str());
    EXPECT_GT(peak, 0);
    EXPECT_LT(static_cast<double>(peak), run.result.memory.total_bytes()) << "checkpointing " << checkpointing;
  }
}
