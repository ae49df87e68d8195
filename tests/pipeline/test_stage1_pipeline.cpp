// The Stage-1 pipeline end to end on stories260K with a tiny configuration:
// the file opens in Python with weights_only=True, the Python reference
// decoder agrees bit for bit with `stage1 decode`, evaluation of the file
// equals evaluation of its decoded state dict, runs are byte-identical,
// and corrupt files are refused with clear errors.
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"
#include "eval/documents.h"
#include "eval/text_eval.h"
#include "io/model_loader.h"
#include "pipeline/plan_stage1.h"
#include "pipeline/run_stage1.h"
#include "pipeline/stage1_file.h"
#include "io/pt_file.h"
#include "pipeline/stage1_model.h"
#include "pipeline_test_util.h"

using namespace seedforge;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The dry run's size estimate deflates payloads that compress no better than
// real ones (uniform digits and SeedLM bits), so it is at least the file's
// size, less 1 % for deflate's own overhead on uniform digits, and at most
// that size plus what real SeedLM bits can deflate away (all of them, at
// most: e.g. the blocks of identical embedding rows) plus 5 % for skewed levels
// and scales.
void expect_size_estimate_bounds(int64_t estimate, const Stage1Report& real) {
  int64_t seedlm = 0;
  for (const auto& t : real.tensors) seedlm += t.codec == "seedlm" ? t.bytes : 0;
  EXPECT_GE(double(estimate), 0.99 * double(real.output_bytes));
  EXPECT_LE(double(estimate), double(real.output_bytes + seedlm) + 0.05 * double(real.output_bytes))
      << "SeedLM payload " << seedlm;
}

// One run shared by several tests (each run takes seconds).
struct SharedRun {
  test::TempDir dir;
  std::string output = dir.file("model.stage1.pt");
  Stage1Report report;
  SharedRun() { report = run_stage1(test::stories_model(), output, test::tiny_config()); }
};

SharedRun& shared() {
  static SharedRun run;
  return run;
}

// `stage1 decode` and the Python reference decoder give the same tensors,
// bit for bit, and torch.load(weights_only=True) opens the file.
void expect_python_decoder_matches(const std::string& file, const test::TempDir& dir, int64_t format_version) {
  const std::string decoded_cpp = dir.file("decoded_cpp.pt");
  auto r = test::run_command(test::stage1_binary() + " decode " + file + " --output " + decoded_cpp);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string check = R"(
import sys, torch
sys.path.insert(0, sys.argv[1])
import stage1_decode
f = torch.load(sys.argv[2], weights_only=True)
assert f["format"] == "seedforge.stage1" and f["format_version"] == int(sys.argv[4]), f["format_version"]
py = stage1_decode.decode(sys.argv[2])
cpp = torch.load(sys.argv[3], weights_only=True)
assert sorted(py) == sorted(cpp), (sorted(py)[:3], sorted(cpp)[:3])
for k in py:
    assert py[k].dtype == cpp[k].dtype == torch.float32, k
    assert py[k].shape == cpp[k].shape, k
    assert torch.equal(py[k], cpp[k]), (k, (py[k] - cpp[k]).abs().max().item())
print("identical", len(py))
)";
  test::write_text(dir.file("check.py"), check);
  r = test::run_command(test::python() + " " + dir.file("check.py") + " " + std::string(SEEDFORGE_SOURCE_DIR) +
                        "/python " + file + " " + decoded_cpp + " " + std::to_string(format_version));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("identical 47"), std::string::npos) << r.output;
}

}  // namespace

TEST(Stage1Pipeline, WritesFileLogAndReport) {
  auto& run = shared();
  const Stage1Report& r = run.report;
  EXPECT_TRUE(std::filesystem::exists(run.output));
  EXPECT_EQ(r.output_bytes, static_cast<int64_t>(file_size_bytes(run.output)));
  EXPECT_EQ(r.input_bytes, 1056540);
  EXPECT_NEAR(r.compression_ratio, 1056540.0 / double(r.output_bytes), 1e-9);
  EXPECT_GT(r.compression_ratio, 10.0) << "output " << r.output_bytes << " bytes";
  EXPECT_EQ(r.train_steps, 4);
  EXPECT_GT(r.before.top1, 0.4);
  EXPECT_NEAR(r.retention, r.after.top1 / r.before.top1, 1e-12);
  // Both readings on the start of the training text too: at least the
  // evaluation text's token count, the original's top-1 there independent of the student.
  EXPECT_GE(r.train_before.tokens, r.before.tokens);
  EXPECT_EQ(r.train_after.tokens, r.train_before.tokens);
  EXPECT_GT(r.train_before.top1, 0.4);
  EXPECT_NEAR(r.train_retention, r.train_after.top1 / r.train_before.top1, 1e-12);
  EXPECT_NE(r.train_sample.find("(first "), std::string::npos) << r.train_sample;
  {
    const auto j = report_json(r);
    EXPECT_NEAR(j["accuracy"]["top1_drop_points"].get<double>(), 100.0 * (r.before.top1 - r.after.top1), 1e-9);
    EXPECT_NEAR(j["accuracy_on_training_text"]["top1_drop_points"].get<double>(),
                100.0 * (r.train_before.top1 - r.train_after.top1), 1e-9);
    EXPECT_NE(report_markdown(r).find("retention on training text"), std::string::npos);
    // A student above the original on its training text is said to be
    // higher, not "-2.00 points lower".
    Stage1Report above = r;
    above.train_after.top1 = above.train_before.top1 + 0.02;
    above.after.top1 = above.before.top1 - 0.015;
    const std::string md = report_markdown(above);
    EXPECT_NE(md.find("2.00 points higher"), std::string::npos) << md;
    EXPECT_NE(md.find("1.50 points lower"), std::string::npos) << md;
    EXPECT_EQ(md.find("-2.00"), std::string::npos) << md;
  }
  // Stages in order, each timed.
  const std::vector<std::string> expected = {"load",     "baseline evaluation",   "bitnet conversion and fine-tuning",
                                             "encoding", "compressed evaluation", "write",
                                             "reload and evaluate", "check constraints"};
  ASSERT_EQ(r.stages.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(r.stages[i].stage, expected[i]);
  // Every tensor reported with its codec.
  int ternary = 0, seedlm = 0, raw = 0;
  for (const auto& t : r.tensors) {
    ternary += t.codec == "ternary";
    seedlm += t.codec == "seedlm";
    raw += t.codec == "raw";
    if (t.codec == "ternary") {
      EXPECT_EQ(t.relative_error, 0.0) << t.name;  // lossless packing
    }
  }
  EXPECT_EQ(ternary, 35);
  EXPECT_EQ(seedlm, 1);  // the tied embedding
  EXPECT_EQ(raw, 11);    // norm weights
  const auto json = nlohmann::json::parse(read_all(run.output + ".report.json"));
  EXPECT_EQ(json["size"]["output_bytes"].get<int64_t>(), r.output_bytes);
  const std::string log = read_all(run.dir.file("stage1_compression.log"));
  EXPECT_NE(log.find("stage encoding: done"), std::string::npos);
  EXPECT_NE(log.find("[info]"), std::string::npos);
}

TEST(Stage1Pipeline, ByteTableAccountsForEveryByte) {
  // python/stage1_bytes.py: its rows sum to the file size, and its ternary and
  // SeedLM rows' stored bytes (before deflate) equal what the report says those
  // tensors store.
  auto& run = shared();
  const auto r = test::run_command(test::python() + " " + std::string(SEEDFORGE_SOURCE_DIR) + "/python/stage1_bytes.py " +
                                   run.output + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  int64_t sum = 0;
  for (const auto& [row, n] : j["rows"].items()) {
    EXPECT_GE(n.get<int64_t>(), 0) << row;
    sum += n.get<int64_t>();
  }
  EXPECT_EQ(sum, run.report.output_bytes);
  EXPECT_EQ(j["bytes"].get<int64_t>(), run.report.output_bytes);
  int64_t ternary = 0, seedlm = 0, other = 0;
  for (const auto& t : run.report.tensors) (t.codec == "ternary" ? ternary : t.codec == "seedlm" ? seedlm : other) += t.bytes;
  EXPECT_EQ(j["stored"]["ternary trits (5 a byte)"].get<int64_t>() + j["stored"]["ternary scales"].get<int64_t>(), ternary);
  EXPECT_EQ(j["stored"]["SeedLM seeds, exponents, coefficients"].get<int64_t>() + j["stored"]["SeedLM scales"].get<int64_t>(),
            seedlm);
  // Deflate never adds bytes to a row: a record is deflated only when that makes it smaller.
  for (const auto& [row, n] : j["stored"].items()) EXPECT_LE(j["rows"][row].get<int64_t>(), n.get<int64_t>() + 1) << row;
  EXPECT_EQ(j["tensors_by_codec"]["ternary"].get<int>(), 35);
}

TEST(Stage1Pipeline, FileReloadsWithTheSameFigures) {
  auto& run = shared();
  LoadedModel m = open_model(run.output, "");
  EXPECT_EQ(m.tokenizer->kind(), "llama2c");  // embedded: the file is self-contained
  auto docs = read_documents(test::valid_text());
  docs.resize(12);
  const auto r = evaluate_documents(m.model, tokenize_documents(docs, *m.tokenizer, 512));
  EXPECT_EQ(r.top1, run.report.after.top1);
  EXPECT_EQ(r.tokens, run.report.after.tokens);
}

TEST(Stage1Pipeline, PythonOpensWithWeightsOnlyAndReferenceDecoderMatchesStage1Decode) {
  auto& run = shared();
  expect_python_decoder_matches(run.output, run.dir, 1);  // fp32 scales, one per tensor: version 1
}

TEST(Stage1Pipeline, ColumnGroupFp16ScalesAreStoredExactlyAndDecodedAlike) {
  // One fp16 scale per row and per 32 columns: the file holds what the
  // fine-tuned model multiplies by (the run checks its reload figures), the
  // dry run predicts its size, and Python decodes it the same.
  test::TempDir dir;
  const std::string out = dir.file("model.stage1.pt");
  Stage1Config config = test::tiny_config(2);
  config.bitnet.per_row_scale = true;
  config.bitnet.scale_group = 32;
  config.encoding.ternary_scale = ScaleEncoding::kFp16;
  const Stage1Report r = run_stage1(test::stories_model(), out, config);
  for (const auto& t : r.tensors) {
    if (t.codec == "ternary") {
      EXPECT_EQ(t.relative_error, 0.0) << t.name;
    }
  }
  const Stage1File f = read_stage1_file(out);
  EXPECT_EQ(f.format_version, 2);
  EXPECT_EQ(f.bitnet.scale_group, 32);
  int64_t scales = 0;
  for (const Stage1Tensor& t : f.tensors) {
    if (t.codec != "ternary") continue;
    EXPECT_EQ(t.scale.scalar_type(), torch::kFloat16) << t.name;
    EXPECT_EQ(t.scale_group, 32) << t.name;
    EXPECT_EQ(t.scale.numel(), t.shape[0] * ((t.shape[1] + 31) / 32)) << t.name;  // 172 columns: 6 runs, the last 12 wide
    scales += t.scale.numel();
  }
  EXPECT_EQ(scales, 7280);  // per layer: q 128, k 64, v 64, o 128, gate 344, up 344, down 384
  const Stage1Plan plan = plan_stage1(test::stories_model(), dir.file("never.stage1.pt"), config);
  expect_size_estimate_bounds(plan.estimated_output_bytes, r);
  expect_python_decoder_matches(out, dir, 2);
}

TEST(Stage1Pipeline, WiderProjectionsAreStoredAsLevelsAndDecodedAlikeEverywhere) {
  // bitnet.projection_levels: the down projections at five levels and one q
  // at fifteen. The file (format 3) holds exactly what the fine-tuned model
  // multiplies by (relative error 0; the run also checks its reload figures),
  // the plan sizes it, Python decodes it bit for bit like `stage1 decode`,
  // and the inference engine (dense path for the wider matrices) scores it
  // as libtorch does. Full-precision activations, as in the test below: with
  // 8-bit ones a rounding difference between the two fp32 paths can move an
  // activation code, and a two-step model's near-tied logits then flip
  // top-1 on a few tokens; here the paths differ by summation order only.
  test::TempDir dir;
  const std::string out = dir.file("model.stage1.pt");
  Stage1Config config = test::tiny_config(2, 0);
  config.bitnet.per_row_scale = true;
  config.bitnet.scale_group = 32;
  config.encoding.ternary_scale = ScaleEncoding::kFp16;
  config.bitnet.projection_levels = {"*.down_proj:5", "model.layers.0.self_attn.q_proj:15"};
  const Stage1Report r = run_stage1(test::stories_model(), out, config);
  int levels = 0, ternary = 0;
  for (const auto& t : r.tensors) {
    levels += t.codec == "levels";
    ternary += t.codec == "ternary";
    if (t.codec == "levels" || t.codec == "ternary") {
      EXPECT_EQ(t.relative_error, 0.0) << t.name;
    }
  }
  EXPECT_EQ(levels, 6);
  EXPECT_EQ(ternary, 29);
  const Stage1File f = read_stage1_file(out);
  EXPECT_EQ(f.format_version, 3);
  for (const Stage1Tensor& t : f.tensors) {
    if (t.codec != "levels") continue;
    const int level = t.name == "model.layers.0.self_attn.q_proj.weight" ? 7 : 2;
    EXPECT_EQ(t.max_level, level) << t.name;
    EXPECT_EQ(t.payload.numel(), (t.numel() + (level == 2 ? 2 : 1)) / (level == 2 ? 3 : 2)) << t.name;
    // Some weight reaches the top level: the absmax scale is in use.
    const torch::Tensor values = decode_stage1_tensor(t, f.seedlm, out);
    const torch::Tensor scale = t.scale.to(torch::kFloat32).view({t.shape[0], -1}).repeat_interleave(32, 1).narrow(1, 0, t.shape[1]);
    const torch::Tensor q = (values / scale).round();
    EXPECT_EQ(q.abs().max().item<float>(), float(level)) << t.name;
  }
  const Stage1Plan plan = plan_stage1(test::stories_model(), dir.file("never.stage1.pt"), config);
  expect_size_estimate_bounds(plan.estimated_output_bytes, r);
  expect_python_decoder_matches(out, dir, 3);
  const std::string args = " --text " + test::valid_text() + " --max-docs 30 --json 2>/dev/null";
  auto a = test::run_command(test::stage1_binary() + " eval --engine torch --model " + out + args, true);
  auto c = test::run_command(test::stage1_binary() + " eval --model " + out + args, true);
  ASSERT_EQ(a.exit_code, 0) << a.output;
  ASSERT_EQ(c.exit_code, 0) << c.output;
  const auto ja = nlohmann::json::parse(a.output), jc = nlohmann::json::parse(c.output);
  EXPECT_EQ(jc["engine"].get<std::string>().rfind("ternary", 0), 0u) << jc["engine"];
  EXPECT_EQ(jc["tokens"], ja["tokens"]);
  // fp32 summation order differs between the engine and libtorch.
  EXPECT_NEAR(jc["top1"].get<double>(), ja["top1"].get<double>(), 1e-4);
  EXPECT_NEAR(jc["perplexity"].get<double>(), ja["perplexity"].get<double>(), 1e-4 * ja["perplexity"].get<double>());
  // A pattern that names no projection is refused before any work.
  config.bitnet.projection_levels = {"*.down_prj:5"};
  try {
    run_stage1(test::stories_model(), dir.file("never2.stage1.pt"), config);
    FAIL() << "a pattern matching nothing was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("matches no projection"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("never2.stage1.pt")));
}

TEST(Stage1Pipeline, SameInputConfigAndSeedGiveByteIdenticalFile) {
  auto& run = shared();
  test::TempDir other;  // same file name: the zip's archive folder is the file's stem, as torch.save names it
  const std::string again = other.file("model.stage1.pt");
  run_stage1(test::stories_model(), again, test::tiny_config());
  const std::string a = read_all(again), b = read_all(run.output);
  EXPECT_EQ(a.size(), b.size());
  EXPECT_TRUE(a == b) << "the two runs wrote different bytes";
}

TEST(Stage1Pipeline, EmbeddingTrainsUntilTheFreezeFractionAndSampledTextJoinsTheTrainingData) {
  auto& run = shared();  // float_freeze_fraction 0.75 (default): the embedding is frozen before step 4
  test::TempDir dir;
  const std::string output = dir.file("model.stage1.pt");
  Stage1Config config = test::tiny_config();
  config.bitnet.float_freeze_fraction = 0.0;
  config.bitnet.synthetic_tokens = 3000;
  const Stage1Report r = run_stage1(test::stories_model(), output, config);
  EXPECT_EQ(r.train_steps, 4);
  const std::string log = read_all(dir.file("stage1_compression.log"));
  EXPECT_NE(log.find("encoded model.embed_tokens.weight with SeedLM"), std::string::npos) << log;
  EXPECT_NE(log.find("froze it at step 0"), std::string::npos) << log;
  EXPECT_NE(log.find("from the original model at temperature 1"), std::string::npos) << log;
  const std::string shared_log = read_all(std::filesystem::path(run.output).parent_path() / "stage1_compression.log");
  EXPECT_NE(shared_log.find("froze it at step 3"), std::string::npos);

  // Three steps of training moved the shared run's embedding before it was
  // encoded: its stored value differs from this run's, frozen at once. (That
  // the file holds what the fine-tuned model used, run_stage1 checks on reload.)
  const StateDict at_once = decode_stage1(read_stage1_file(output), output);
  const StateDict late = decode_stage1(read_stage1_file(run.output), run.output);
  auto embedding = [](const StateDict& d) {
    for (const auto& [name, value] : d) {
      if (name == "model.embed_tokens.weight") return value;
    }
    return torch::Tensor();
  };
  const torch::Tensor a = embedding(at_once), b = embedding(late);
  ASSERT_TRUE(a.defined() && b.defined());
  EXPECT_GT((a - b).abs().max().item<double>(), 0.0);
}

TEST(Stage1Pipeline, DryRunSizeEstimateBoundsTheFile) {
  auto& run = shared();
  const Stage1Plan plan = plan_stage1(test::stories_model(), run.dir.file("never-written.stage1.pt"), test::tiny_config());
  EXPECT_FALSE(std::filesystem::exists(run.dir.file("never-written.stage1.pt")));
  expect_size_estimate_bounds(plan.estimated_output_bytes, run.report);
  EXPECT_EQ(plan.train_steps, 4);
  EXPECT_EQ(plan.tensors.size(), 47u);
  // hardware.processes 2: the tool would start two ranks, each step twice
  // the windows; the steps stay. The in-process run above had one rank and
  // the config's grad_accum (processes 1).
  const Stage1Config config = test::tiny_config();
  EXPECT_EQ(plan.train_ranks, 1);
  EXPECT_EQ(plan.train_tokens, 4 * config.bitnet.grad_accum * config.bitnet.batch_size * config.bitnet.seq_len);
  Stage1Config two = config;
  two.hardware.processes = 2;
  const Stage1Plan plan2 = plan_stage1(test::stories_model(), run.dir.file("never-written.stage1.pt"), two);
  EXPECT_EQ(plan2.train_ranks, 2);
  EXPECT_EQ(plan2.train_steps, 4);
  EXPECT_EQ(plan2.train_tokens, 2 * plan.train_tokens);
  EXPECT_EQ(run.report.train_ranks, 1);
  EXPECT_EQ(run.report.train_grad_accum, config.bitnet.grad_accum);
  EXPECT_EQ(run.report.train_batch_size, config.bitnet.batch_size);
  // The plan times the stages the run has, in its order (the constraint
  // check, which computes nothing, aside).
  std::vector<std::string> timed, ran;
  for (const auto& s : plan.estimated_seconds) timed.push_back(s.stage);
  for (const auto& s : run.report.stages) {
    if (s.stage != "check constraints") ran.push_back(s.stage);
  }
  EXPECT_EQ(timed, ran);
}

TEST(Stage1Pipeline, EvalOfFileEqualsEvalOfDecodedStateDictWithFullPrecisionActivations) {
  // With activation_bits 0 the decoded weights are the whole model, so a
  // plain .pt state dict of them evaluates exactly like the .stage1.pt.
  test::TempDir dir;
  const std::string out = dir.file("fp-act.stage1.pt");
  run_stage1(test::stories_model(), out, test::tiny_config(2, 0));
  auto r = test::run_command(test::stage1_binary() + " decode " + out + " --output " + dir.file("decoded.pt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The decoded .pt has no tokenizer or config beside it: give both.
  test::write_text(dir.file("config.json"), R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64,
    "intermediate_size": 172, "num_hidden_layers": 5, "num_attention_heads": 8, "num_key_value_heads": 4,
    "vocab_size": 512, "max_position_embeddings": 512, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
    "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2})");
  const std::string args = " --text " + test::valid_text() + " --max-docs 30 --json 2>/dev/null";
  // The file through libtorch (--engine torch) equals the decoded state dict
  // exactly; through the inference engine (the default) within fp32 rounding.
  auto a = test::run_command(test::stage1_binary() + " eval --engine torch --model " + out + args, true);
  auto b = test::run_command(test::stage1_binary() + " eval --model " + dir.file("decoded.pt") + " --tokenizer " +
                             test::stories_tokenizer() + args, true);
  auto c = test::run_command(test::stage1_binary() + " eval --model " + out + args, true);
  ASSERT_EQ(a.exit_code, 0) << a.output;
  ASSERT_EQ(b.exit_code, 0) << b.output;
  ASSERT_EQ(c.exit_code, 0) << c.output;
  const auto ja = nlohmann::json::parse(a.output), jb = nlohmann::json::parse(b.output), jc = nlohmann::json::parse(c.output);
  EXPECT_EQ(ja["tokens"], jb["tokens"]);
  EXPECT_EQ(ja["top1"].get<double>(), jb["top1"].get<double>());
  EXPECT_EQ(ja["perplexity"].get<double>(), jb["perplexity"].get<double>());
  EXPECT_EQ(ja["engine"], "torch");
  EXPECT_EQ(jc["engine"].get<std::string>().rfind("ternary", 0), 0u) << jc["engine"];
  EXPECT_EQ(jc["tokens"], ja["tokens"]);
  EXPECT_NEAR(jc["top1"].get<double>(), ja["top1"].get<double>(), 1e-4);
  EXPECT_NEAR(jc["perplexity"].get<double>(), ja["perplexity"].get<double>(), 1e-4 * ja["perplexity"].get<double>());
}

TEST(Stage1File, CorruptAndFutureFilesAreRefused) {
  auto& run = shared();
  const std::string bytes = read_all(run.output);
  test::TempDir dir;
  test::write_text(dir.file("truncated.stage1.pt"), bytes.substr(0, bytes.size() / 2));
  try {
    read_stage1_file(dir.file("truncated.stage1.pt"));
    FAIL() << "truncated file accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated.stage1.pt"), std::string::npos) << e.what();
  }
  // A future format_version, written with the same writer.
  Stage1File f = read_stage1_file(run.output);
  PtValue root = read_pt_file(run.output);
  root.set("format_version", PtValue::of_int(99));
  write_pt_file(dir.file("future.stage1.pt"), root);
  try {
    read_stage1_file(dir.file("future.stage1.pt"));
    FAIL() << "future version accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("format_version 99"), std::string::npos) << e.what();
  }
  // A payload of the wrong size names the tensor.
  PtValue broken = read_pt_file(run.output);
  for (auto& [key, entry] : broken.entries()) {
    if (key.as_string() != "tensors") continue;
    for (auto& [name, t] : entry.entries()) {
      if (name.as_string() == "model.layers.0.self_attn.q_proj.weight") {
        t.set("packed", PtValue::of_tensor(torch::zeros({10}, torch::kUInt8)));
      }
    }
  }
  write_pt_file(dir.file("broken.stage1.pt"), broken);
  try {
    read_stage1_file(dir.file("broken.stage1.pt"));
    FAIL() << "broken payload accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.self_attn.q_proj.weight"), std::string::npos) << e.what();
  }
  (void)f;
}
