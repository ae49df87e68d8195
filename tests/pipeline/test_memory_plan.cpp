// The memory plan: a dry run of a 1.1B-parameter Hugging Face folder reads
// its headers only (the test's safetensors file is sparse: its 2.2 GB of
// weights take no disk and were never written, so any read of them would
// see zeros and any copy of them would show in the resident set), and a run
// that cannot fit is refused before any work, naming the largest term.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "eval/peak_memory.h"
#include "io/checkpoint.h"
#include "model/parameter_shapes.h"
#include "pipeline/plan_stage1.h"
#include "pipeline/run_stage1.h"
#include "pipeline/stage1_memory.h"
#include "pipeline_test_util.h"
#include "test_util.h"
#include "train/bit_linear.h"
#include "train/memory_estimate.h"
#include "train/options_from_config.h"

using namespace seedforge;
namespace fs = std::filesystem;

namespace {

// TinyLlama-1.1B's public dimensions.
ModelConfig tinyllama_shape() {
  ModelConfig c;
  c.dim = 2048;
  c.hidden_dim = 5632;
  c.n_layers = 22;
  c.n_heads = 32;
  c.n_kv_heads = 4;
  c.vocab_size = 32000;
  c.max_seq_len = 2048;
  c.tie_embeddings = false;
  return c;
}

// A two-layer model whose projections have 24 and 36 columns (head dim 6):
// with scale_group 5, scale runs of 5 with a shorter last one.
ModelConfig grouped_scales_model() {
  ModelConfig mc;
  mc.dim = 24;
  mc.hidden_dim = 36;
  mc.n_layers = 2;
  mc.n_heads = 4;
  mc.n_kv_heads = 2;
  mc.vocab_size = 50;
  mc.max_seq_len = 16;
  mc.tie_embeddings = false;
  return mc;
}

// config.json, the llama2 tokenizer, and model.safetensors whose header
// lists every tensor in `dtype` (BF16 or F32) and whose data section is a hole.
void write_sparse_hf_folder(const std::string& dir, const ModelConfig& c, const std::string& dtype = "BF16") {
  fs::create_directories(dir);
  nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                           {"model_type", "llama"},
                           {"hidden_size", c.dim},
                           {"intermediate_size", c.hidden_dim},
                           {"num_hidden_layers", c.n_layers},
                           {"num_attention_heads", c.n_heads},
                           {"num_key_value_heads", c.n_kv_heads},
                           {"vocab_size", c.vocab_size},
                           {"max_position_embeddings", c.max_seq_len},
                           {"rms_norm_eps", 1e-5},
                           {"rope_theta", 10000.0},
                           {"tie_word_embeddings", c.tie_embeddings}};
  std::ofstream(dir + "/config.json") << config.dump(2);
  fs::copy_file(data_path("tokenizers/llama2/tokenizer.model"), dir + "/tokenizer.model");
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  uint64_t offset = 0;
  for (const ParameterShape& p : parameter_shapes(c)) {
    const uint64_t bytes = uint64_t(p.numel()) * (dtype == "F32" ? 4 : 2);
    header[p.name] = {{"dtype", dtype}, {"shape", p.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text += ' ';
  const std::string path = dir + "/model.safetensors";
  {
    std::ofstream out(path, std::ios::binary);
    const uint64_t n = text.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << text;
  }
  ASSERT_EQ(::truncate(path.c_str(), off_t(8 + text.size() + offset)), 0);
}

}  // namespace

TEST(MemoryPlan, DryRunOfA1BModelReadsHeadersOnly) {
  test::TempDir dir;
  const ModelConfig shape = tinyllama_shape();
  write_sparse_hf_folder(dir.file("tinyllama"), shape);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  Stage1Config config = test::tiny_config(4);
  config.eval.max_docs = 4;
  const int64_t rss_before = current_rss_bytes();
  reset_peak_rss();
  const Stage1Plan plan = plan_stage1(dir.file("tinyllama"), dir.file("never.stage1.pt"), config);
  const int64_t growth = peak_rss_bytes() - rss_before;
  EXPECT_FALSE(plan.weights_read);
  EXPECT_EQ(plan.parameters, parameter_count(shape));
  EXPECT_GT(plan.parameters, 1'000'000'000);
  // One fp32 copy of the weights would be 4.4 GB. What the plan holds: the
  // zero-payload layout it writes to measure the file (about 0.3 GB for
  // 1.1 B ternary weights) and the tokenized text.
  EXPECT_LT(growth, int64_t(1) << 30) << "peak RSS grew by " << growth << " bytes";
  EXPECT_FALSE(fs::exists(dir.file("never.stage1.pt")));
  EXPECT_NE(plan.timing.find("operation count"), std::string::npos) << plan.timing;
  // Every phase has a host figure; the fine-tuning one holds the original,
  // the student, the gradients and AdamW's moments: 20 bytes a parameter.
  ASSERT_EQ(plan.phases.size(), 6u);
  const PhaseMemory& ft = plan.phases[2];
  EXPECT_EQ(ft.phase, "fine-tuning");
  EXPECT_GE(ft.host.total_bytes(), 20.0 * double(plan.parameters));
  EXPECT_EQ(host_peak(plan.phases).phase, "fine-tuning");
  const std::string markdown = plan_markdown(plan);
  EXPECT_NE(markdown.find("no weight was read"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("| fine-tuning | "), std::string::npos) << markdown;
}

TEST(MemoryPlan, ARunThatCannotFitIsRefusedBeforeAnyWork) {
  test::TempDir dir;
  write_sparse_hf_folder(dir.file("tinyllama"), tinyllama_shape());
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  Stage1Config config = test::tiny_config(4);
  config.hardware.device = Device::kCuda;  // refused on the plan, before CUDA is looked for
  config.hardware.max_vram_gb = 16;
  const std::string output = dir.file("m.stage1.pt");
  try {
    run_stage1(dir.file("tinyllama"), output, config);
    FAIL() << "a 1.1B end-to-end fine-tuning (about 22 GB on the GPU) was not refused at 16 GB";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kUsage) << what;
    EXPECT_NE(what.find("exceeds hardware.max_vram_gb = 16 GB"), std::string::npos) << what;
    EXPECT_NE(what.find("the largest term is optimizer"), std::string::npos) << what;
    EXPECT_NE(what.find("fine-tuning"), std::string::npos) << what;
  }
  EXPECT_FALSE(fs::exists(output));
  EXPECT_FALSE(fs::exists(dir.file("stage1_compression.log"))) << "refused before the log was opened";
}

TEST(MemoryPlan, BlockwiseFitsA1BModelOn16GBWhereEndToEndDoesNot) {
  test::TempDir dir;
  write_sparse_hf_folder(dir.file("tinyllama"), tinyllama_shape());
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  Stage1Config config = test::tiny_config(4);
  config.eval.max_docs = 4;
  config.hardware.device = Device::kCuda;
  config.bitnet.seq_len = 512;
  config.bitnet.batch_size = 4;
  config.bitnet.kd_weight = 0.5;
  const Stage1Plan e2e = plan_stage1(dir.file("tinyllama"), dir.file("never.stage1.pt"), config);
  config.bitnet.mode = "blockwise";
  config.bitnet.e2e_steps = 100;
  const Stage1Plan blocks = plan_stage1(dir.file("tinyllama"), dir.file("never.stage1.pt"), config);
  const double gib = 1024.0 * 1024.0 * 1024.0;
  EXPECT_GT(device_peak(e2e.phases).device.total_bytes(), 16 * gib);
  const PhaseMemory& peak = device_peak(blocks.phases);
  EXPECT_LT(peak.device.total_bytes(), 16 * gib) << peak.phase << ": " << peak.device.describe();
  // The block phase itself is small: one block of 22 is on the device.
  for (const PhaseMemory& m : blocks.phases) {
    if (m.phase == "block-wise fine-tuning") {
      EXPECT_LT(m.device.total_bytes(), 2 * gib) << m.device.describe();
    }
  }
  EXPECT_EQ(blocks.train_steps, 22 * config.bitnet.block_steps + 100);
}

TEST(MemoryPlan, BlockwiseHoldsA16BitOriginalsProjectionsIn2BytesAWeight) {
  // The run keeps a bf16 checkpoint's projections in bf16 on the host
  // (narrow_exact_projections); the plan knows it from the safetensors
  // header's dtypes. An F32 file's original stays 4 bytes a parameter.
  test::TempDir dir;
  const ModelConfig shape = tinyllama_shape();
  write_sparse_hf_folder(dir.file("bf16"), shape, "BF16");
  write_sparse_hf_folder(dir.file("f32"), shape, "F32");
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  EXPECT_EQ(read_checkpoint_header(dir.file("bf16")).projection_bytes, 2);
  EXPECT_EQ(read_checkpoint_header(dir.file("f32")).projection_bytes, 4);
  Stage1Config config = test::tiny_config(4);
  config.eval.max_docs = 4;
  config.bitnet.mode = "blockwise";
  config.bitnet.e2e_steps = 2;
  const double p = double(parameter_count(shape)), projections = double(projection_parameter_count(shape));
  for (const std::string dtype : {"bf16", "f32"}) {
    SCOPED_TRACE(dtype);
    const Stage1Plan plan = plan_stage1(dir.file(dtype), dir.file("never.stage1.pt"), config);
    const double expected = dtype == "bf16" ? 2.0 * projections + 4.0 * (p - projections) : 4.0 * p;
    int checked = 0;
    for (const PhaseMemory& m : plan.phases) {
      for (const auto& [name, bytes] : m.host.terms) {
        if (name.rfind("original", 0) != 0) continue;
        EXPECT_DOUBLE_EQ(bytes, expected) << m.phase << ": " << name;
        ++checked;
      }
    }
    EXPECT_EQ(checked, 3);  // baseline evaluation, block-wise phase, end-to-end phase
  }
}

TEST(MemoryPlan, EndToEndPhaseTermsAreTheFrozenStudentsBytes) {
  // The plan's student term of the end-to-end phase against a real student
  // converted, frozen (int8 trits, scales and gains) and counted tensor by
  // tensor; freezing the float matrices from the first step removes exactly
  // their gradients and AdamW moments (12 bytes a weight).
  Stage1Config config = test::tiny_config(1);
  config.bitnet.mode = "blockwise";
  config.bitnet.e2e_steps = 5;
  config.bitnet.per_row_scale = true;
  config.bitnet.scale_group = 5;
  const ModelConfig mc = grouped_scales_model();
  const TrainOptions train = train_options_from_config(config);
  auto e2e_phase = [&](const Stage1Config& c) {
    for (const PhaseMemory& p : estimate_stage1_memory(stage1_memory_inputs(c, mc, train, true))) {
      if (p.phase == "end-to-end phase") return p;
    }
    throw std::runtime_error("no end-to-end phase");
  };
  auto term = [](const MemoryEstimate& m, const std::string& prefix) {
    for (const auto& [name, bytes] : m.terms) {
      if (name.compare(0, prefix.size(), prefix) == 0) return bytes;
    }
    throw std::runtime_error("no term " + prefix);
  };
  Transformer student(mc);
  convert_to_bitnet(student, bitnet_options(train));
  freeze_trits(student);
  double bytes = 0.0;
  for (const auto& p : student->parameters()) bytes += double(p.numel() * p.element_size());
  for (const auto& b : student->named_buffers()) {
    if (b.key().find("ternary_scale0") != std::string::npos) bytes += double(b.value().numel() * b.value().element_size());
  }
  const PhaseMemory trained = e2e_phase(config);
  EXPECT_EQ(term(trained.host, "student"), bytes);
  config.bitnet.float_freeze_fraction = 0.0;
  const PhaseMemory frozen = e2e_phase(config);
  const double float_matrices = double(2 * mc.vocab_size * mc.dim);  // embedding and untied head
  EXPECT_EQ(term(trained.host, "gradients and AdamW") - term(frozen.host, "gradients and AdamW"), 12.0 * float_matrices);
}

TEST(MemoryPlan, LearnedScalesCountTheirGainsInEveryTrainingPhase) {
  // With learned scales every ternary scale has an fp32 gain that trains
  // (value, gradient, two AdamW moments: 16 bytes). The plan's terms against
  // the gains a real converted student has, counted parameter by parameter.
  Stage1Config config = test::tiny_config(1);
  config.bitnet.per_row_scale = true;
  config.bitnet.scale_group = 5;
  const ModelConfig mc = grouped_scales_model();
  auto term = [](const MemoryEstimate& m, const std::string& name) {
    double sum = 0.0;
    for (const auto& [n, bytes] : m.terms) sum += n == name ? bytes : 0.0;
    return sum;
  };
  auto phase = [&](const Stage1Config& c, const std::string& name) {
    for (const PhaseMemory& p : estimate_stage1_memory(stage1_memory_inputs(c, mc, train_options_from_config(c), true))) {
      if (p.phase == name) return p;
    }
    throw std::runtime_error("no phase " + name);
  };
  config.bitnet.learned_scales = true;
  Transformer student(mc);
  convert_to_bitnet(student, bitnet_options(train_options_from_config(config)));
  double gains = 0.0;
  for (const auto& p : student->named_parameters()) {
    if (p.key().find("scale_gain") != std::string::npos) gains += double(p.value().numel());
  }
  ASSERT_GT(gains, 0.0);
  const PhaseMemory learned = phase(config, "fine-tuning");
  EXPECT_EQ(term(learned.host, "learned scale gains"), 16.0 * gains);
  config.bitnet.learned_scales = false;
  const PhaseMemory fixed = phase(config, "fine-tuning");
  EXPECT_EQ(term(fixed.host, "learned scale gains"), 0.0);
  EXPECT_EQ(learned.host.total_bytes() - fixed.host.total_bytes(), 16.0 * gains);

  // Block-wise: one block's gains train, every block's are kept in the student.
  config.bitnet.mode = "blockwise";
  config.bitnet.learned_scales = true;
  const PhaseMemory block_learned = phase(config, "block-wise fine-tuning");
  EXPECT_EQ(term(block_learned.host, "learned scale gains of the block"), 16.0 * gains / double(mc.n_layers));
  config.bitnet.learned_scales = false;
  const PhaseMemory block_fixed = phase(config, "block-wise fine-tuning");
  EXPECT_EQ(block_learned.host.total_bytes() - block_fixed.host.total_bytes(),
            16.0 * gains / double(mc.n_layers) + 4.0 * gains);
}
