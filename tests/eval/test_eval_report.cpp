// Size metrics (against the llama2.c layout worked out by hand from the data
// README's dimensions), retention (exactly 1.0 when the "new" model is the
// original), the JSON keys of docs/EVAL.md, the Markdown table carrying the
// same numbers, peak memory, the speed measurement's bookkeeping, progress lines.
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "common/error.h"
#include "common/release_memory.h"
#include "eval/eval_report.h"
#include "eval/peak_memory.h"
#include "eval/progress.h"
#include "io/model_loader.h"
#include "runtime/threads.h"
#include "test_util.h"

using namespace seedforge;

TEST(ModelSize, Stories260KLlama2cFile) {
  const Checkpoint ck = load_checkpoint(test::stories_model());
  const ModelSize size = measure_model_size(ck);
  // dim 64, hidden 172, 5 layers, 8 heads, 4 KV heads (head 8), vocab 512, seq 512, tied classifier:
  // embed 512*64 + 5 * (64 + 64*64 + 2*64*32 + 64*64 + 64 + 3*172*64) + 64 = 260,032 parameters;
  // file = 28-byte header + 4 * (260,032 + 2 * 512*4 legacy RoPE floats) = 1,056,540 bytes.
  EXPECT_EQ(size.parameters, 260032);
  EXPECT_EQ(size.file_bytes, 1056540);
  EXPECT_DOUBLE_EQ(size.bits_per_weight, 1056540.0 * 8 / 260032);
  EXPECT_EQ(size.overhead_bytes, 28 + 4 * 2 * 512 * 4);
  EXPECT_EQ(size.format, "llama2c");
  ASSERT_FALSE(size.tensors.empty());
  for (const auto& t : size.tensors) {
    EXPECT_EQ(t.codec, "fp32") << t.name;
    EXPECT_DOUBLE_EQ(t.bits_per_weight(), 32.0) << t.name;
  }
  EXPECT_DOUBLE_EQ(compression_ratio(size, size), 1.0);
  ModelSize half = size;
  half.file_bytes = size.file_bytes / 2;
  EXPECT_DOUBLE_EQ(compression_ratio(size, half), 2.0);
}

TEST(EvalReport, CompareWithItselfGivesRetentionExactlyOne) {
  EvalRequest request;
  request.model = test::stories_model();
  request.tokenizer = test::stories_tokenizer();
  request.text = test::valid_text();
  request.max_docs = 30;
  request.hellaswag = data_path("hellaswag/hellaswag_val_sample.txt");
  request.max_tasks = 40;
  request.compare = test::stories_model();
  request.progress = false;
  const EvalReport report = run_evaluation(request);
  ASSERT_TRUE(report.original.has_value());
  ASSERT_TRUE(report.retention.top1 && report.retention.hellaswag_acc && report.retention.hellaswag_acc_norm);
  EXPECT_EQ(*report.retention.top1, 1.0);
  EXPECT_EQ(*report.retention.hellaswag_acc, 1.0);
  EXPECT_EQ(*report.retention.hellaswag_acc_norm, 1.0);
  EXPECT_EQ(*report.compression_ratio, 1.0);
  EXPECT_EQ(report.model.hellaswag->tasks, 40);
  EXPECT_EQ(report.hellaswag_layout, "text");

  const nlohmann::json j = eval_report_json(report);
  for (const char* key : {"model", "text", "documents", "tokens", "perplexity", "top1", "tokens_per_second", "device",
                          "threads", "blas", "hellaswag", "size", "memory", "compare", "retention"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["device"], "cpu");
  EXPECT_EQ(j["threads"].get<int>(), configured_threads());
  EXPECT_EQ(j["hellaswag"]["tasks"].get<int64_t>(), 40);
  EXPECT_EQ(j["hellaswag"]["acc"].get<double>(), report.model.hellaswag->acc);
  EXPECT_EQ(j["retention"]["top1"].get<double>(), 1.0);
  EXPECT_EQ(j["retention"]["hellaswag_acc"].get<double>(), 1.0);
  EXPECT_EQ(j["retention"]["hellaswag_acc_norm"].get<double>(), 1.0);
  EXPECT_EQ(j["compare"]["compression_ratio"].get<double>(), 1.0);
  EXPECT_EQ(j["compare"]["hellaswag"]["acc"], j["hellaswag"]["acc"]);
  EXPECT_EQ(j["compare"]["top1"], j["top1"]);
  EXPECT_EQ(j["size"]["parameters"].get<int64_t>(), 260032);
  EXPECT_GT(j["memory"]["peak_rss_bytes"].get<int64_t>(), 0);
  EXPECT_FALSE(j.contains("speed"));

  // The Markdown table carries the same numbers.
  const std::string md = eval_report_markdown(report);
  std::ostringstream acc, top1;
  acc << std::fixed << std::setprecision(4) << report.model.hellaswag->acc;
  top1 << std::fixed << std::setprecision(5) << report.model.text->top1;
  EXPECT_NE(md.find("| HellaSwag acc (40 tasks) | " + acc.str()), std::string::npos) << md;
  EXPECT_NE(md.find("| top-1 accuracy | " + top1.str()), std::string::npos) << md;
  EXPECT_NE(md.find("| 1.0000 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| parameters | 260,032 | 260,032 |"), std::string::npos) << md;
}

TEST(EvalReport, RetentionIsNewOverOriginal) {
  ModelEvaluation now, original;
  now.text = TextEvalResult{};
  original.text = TextEvalResult{};
  now.text->top1 = 0.3;
  original.text->top1 = 0.6;
  now.hellaswag = MultipleChoiceResult{};
  original.hellaswag = MultipleChoiceResult{};
  now.hellaswag->acc = 0.3;
  original.hellaswag->acc = 0.25;
  now.hellaswag->acc_norm = 0.2;
  original.hellaswag->acc_norm = 0.0;  // undefined: reported as null, not inf
  const Retention r = compute_retention(now, original);
  EXPECT_DOUBLE_EQ(*r.top1, 0.5);
  EXPECT_DOUBLE_EQ(*r.hellaswag_acc, 1.2);
  EXPECT_FALSE(r.hellaswag_acc_norm.has_value());
  EvalReport report;
  report.model = now;
  report.original = original;
  report.retention = r;
  const auto j = eval_report_json(report);
  EXPECT_TRUE(j["retention"]["hellaswag_acc_norm"].is_null());
  // A text-only run keeps the flat keys.
  EXPECT_TRUE(j.contains("top1") && j.contains("perplexity") && j.contains("tokens") && j.contains("tokens_per_second"));
}

TEST(EvalReport, BadDeviceIsAUsageError) {
  EvalRequest request;
  request.model = test::stories_model();
  request.device = "tpu";
  try {
    run_evaluation(request);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_NE(std::string(e.what()).find("tpu"), std::string::npos) << e.what();
  }
}

TEST(Speed, MeasuresWhatItWasAskedFor) {
  LoadedModel m = load_model(test::stories_model(), test::stories_tokenizer());
  SpeedOptions options;
  options.prefill_tokens = 32;
  options.prefill_batch = 2;
  options.decode_tokens = 16;
  options.repeats = 1;
  const SpeedResult s = measure_speed(m.model, options);
  EXPECT_EQ(s.device, "cpu");
  EXPECT_EQ(s.threads, configured_threads());
  EXPECT_EQ(s.prefill_batch, 2);
  EXPECT_EQ(s.prefill_tokens, 32);
  EXPECT_EQ(s.decode_tokens, 16);
  EXPECT_GT(s.prefill_tokens_per_second, 0.0);
  EXPECT_DOUBLE_EQ(s.prefill_tokens_per_second, 64.0 / s.prefill_seconds);
  EXPECT_DOUBLE_EQ(s.decode_tokens_per_second, 16.0 / s.decode_seconds);
  EXPECT_GT(s.peak_rss_bytes, 0);
  EXPECT_EQ(s.peak_cuda_bytes, -1);
  options.decode_tokens = 100000;  // capped at the model's window
  options.prefill_tokens = 100000;
  const SpeedResult capped = measure_speed(m.model, options);
  EXPECT_EQ(capped.decode_tokens, 512);
  EXPECT_EQ(capped.prefill_tokens, 512);
}

TEST(PeakMemory, PeakCoversATouchedAllocationAndResets) {
  const int64_t before = peak_rss_bytes();
  EXPECT_GE(before, current_rss_bytes());
  {
    constexpr size_t kBytes = 64 << 20;
    std::vector<char> block(kBytes);
    std::memset(block.data(), 1, kBytes);  // resident only once touched
    EXPECT_GE(peak_rss_bytes(), current_rss_bytes());
    EXPECT_GE(peak_rss_bytes(), int64_t(kBytes));
  }
  const int64_t high = peak_rss_bytes();
  if (reset_peak_rss()) {
    // After the block is freed, a reset brings the peak back under the old high-water mark.
    EXPECT_LT(peak_rss_bytes(), high);
  }
}

// With blocks up to 512 MiB kept in the heap (configure_threads), freed
// tensors stay resident until release_free_memory() hands their pages back;
// the loader and every stage rely on it.
TEST(PeakMemory, ReleaseFreeMemoryHandsFreedHeapBlocksBack) {
#if defined(__GLIBC__)
  const bool under_jemalloc = std::getenv("SEEDFORGE_TEST_UNDER_JEMALLOC") != nullptr;
  EXPECT_EQ(allocator_description().rfind(under_jemalloc ? "jemalloc " : "glibc malloc", 0), 0u) << allocator_description();
  configure_threads(1);
  constexpr int64_t kBlock = 4 << 20, kBlocks = 32;  // 128 MiB in blocks under the mmap threshold
  std::vector<torch::Tensor> blocks;
  for (int64_t i = 0; i < kBlocks; ++i) blocks.push_back(torch::ones({kBlock / 4}));  // touched: resident
  const int64_t held = current_rss_bytes();
  blocks.clear();
  release_free_memory();
  EXPECT_LT(current_rss_bytes(), held - kBlock * kBlocks / 2);
#else
  GTEST_SKIP() << "malloc_trim is glibc's";
#endif
}

// The same with jemalloc as the allocator, set as the stage1 tool sets it
// (tools/stage1/main.cpp: freed pages kept, never decayed): malloc_trim does
// not reach jemalloc's arenas, so without its own purge nothing would leave
// the resident set. The test above runs in a child with jemalloc preloaded.
TEST(PeakMemory, ReleaseFreeMemoryHandsFreedBlocksBackUnderJemalloc) {
#if defined(SEEDFORGE_JEMALLOC_PATH)
  if (std::getenv("SEEDFORGE_TEST_UNDER_JEMALLOC") != nullptr) GTEST_SKIP() << "this is the child";
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const auto r = test::run_command(std::string("SEEDFORGE_TEST_UNDER_JEMALLOC=1 LD_PRELOAD=") + SEEDFORGE_JEMALLOC_PATH +
                                   " MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1 " + self +
                                   " --gtest_filter=PeakMemory.ReleaseFreeMemoryHandsFreedHeapBlocksBack");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("[  PASSED  ] 1 test"), std::string::npos) << r.output;
#else
  GTEST_SKIP() << "built without jemalloc (libjemalloc-dev)";
#endif
}

TEST(Progress, QuietWhenQuickLinesWhenSlow) {
  std::ostringstream quiet;
  {
    ProgressIndicator p("hellaswag", 1e9, &quiet, 0);
    p.update(1, 2);
    p.update(2, 2);
  }
  EXPECT_EQ(quiet.str(), "");
  std::ostringstream lines;
  {
    ProgressIndicator p("hellaswag", 0.0, &lines, 0);
    p.update(200, 500);
    p.update(300, 500);  // within a second of the last line: skipped
    p.update(500, 500);  // the last one always shows
  }
  EXPECT_EQ(lines.str().rfind("hellaswag 200/500 (40%, ", 0), 0u) << lines.str();
  EXPECT_NE(lines.str().find("\nhellaswag 500/500 (100%, "), std::string::npos) << lines.str();
  EXPECT_EQ(lines.str().find("300/500"), std::string::npos) << lines.str();
  std::ostringstream tty;
  {
    ProgressIndicator p("x", 0.0, &tty, 1);
    p.update(1, 1);
  }
  EXPECT_EQ(tty.str().rfind("\rx 1/1 (100%, ", 0), 0u) << tty.str();
  EXPECT_EQ(tty.str().back(), '\n');
}
