// MetricsRegistry: exposition text exactly, escaping, names, counters,
// textfile output and the Stage-1 metric set.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <random>
#include <thread>

#include "common/error.h"
#include "common/file_util.h"
#include "telemetry/metrics.h"
#include "telemetry/stage1_metrics.h"

namespace seedforge {
namespace {

TEST(Metrics, RendersTheTextFormatExactly) {
  MetricsRegistry r;
  r.declare("seedforge_stage1_loss", MetricType::kGauge, "Training loss of the last step.");
  r.set_gauge("seedforge_stage1_loss", 2.5);
  r.declare("seedforge_stage1_blocks_encoded_total", MetricType::kCounter, "Blocks encoded.");
  r.add_counter("seedforge_stage1_blocks_encoded_total", 3);
  r.add_counter("seedforge_stage1_blocks_encoded_total", 4);
  r.set_gauge("seedforge_stage1_top1", 0.52, {{"model", "original"}});
  r.set_gauge("seedforge_stage1_top1", 0.51, {{"model", "compressed"}});
  r.set_gauge("a_gauge", 1e21, {{"z", "1"}, {"b", "2"}});
  r.set_gauge("a_gauge", -3);
  r.declare("declared_but_never_set", MetricType::kGauge, "Not rendered.");
  r.set_gauge("seedforge_stage1_loss", 2.25);  // the last value wins

  const std::string expected =
      "# TYPE a_gauge gauge\n"
      "a_gauge -3\n"
      "a_gauge{b=\"2\",z=\"1\"} 1e+21\n"
      "# HELP seedforge_stage1_blocks_encoded_total Blocks encoded.\n"
      "# TYPE seedforge_stage1_blocks_encoded_total counter\n"
      "seedforge_stage1_blocks_encoded_total 7\n"
      "# HELP seedforge_stage1_loss Training loss of the last step.\n"
      "# TYPE seedforge_stage1_loss gauge\n"
      "seedforge_stage1_loss 2.25\n"
      "# TYPE seedforge_stage1_top1 gauge\n"
      "seedforge_stage1_top1{model=\"compressed\"} 0.51\n"
      "seedforge_stage1_top1{model=\"original\"} 0.52\n";
  EXPECT_EQ(r.render_text(), expected);
  EXPECT_EQ(MetricsRegistry().render_text(), "");
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(escape_label_value(R"(a\b"c)" "\nd"), R"(a\\b\"c\nd)");
  EXPECT_EQ(escape_label_value("plain ünïcode {x}"), "plain ünïcode {x}");
  MetricsRegistry r;
  r.declare("m", MetricType::kGauge, "back\\slash \"quoted\"\nsecond line");
  r.set_gauge("m", 1, {{"path", "C:\\dir\\\"x\"\n"}});
  EXPECT_EQ(r.render_text(),
            "# HELP m back\\\\slash \"quoted\"\\nsecond line\n"
            "# TYPE m gauge\n"
            "m{path=\"C:\\\\dir\\\\\\\"x\\\"\\n\"} 1\n");
}

TEST(Metrics, ValuesAreShortestAndParseBack) {
  EXPECT_EQ(format_metric_value(0.1), "0.1");
  EXPECT_EQ(format_metric_value(3), "3");
  EXPECT_EQ(format_metric_value(-0.5), "-0.5");
  EXPECT_EQ(format_metric_value(123456789), "123456789");
  EXPECT_EQ(format_metric_value(std::nan("")), "NaN");
  EXPECT_EQ(format_metric_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_metric_value(-std::numeric_limits<double>::infinity()), "-Inf");
  // Round trip through strtod (what Prometheus' Go parser does in effect).
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> mantissa(-1.0, 1.0);
  std::uniform_int_distribution<int> exponent(-300, 300);
  for (int i = 0; i < 2000; ++i) {
    const double x = std::ldexp(mantissa(rng), exponent(rng));
    const std::string text = format_metric_value(x);
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), x) << text;
  }
}

TEST(Metrics, ValidatesNames) {
  EXPECT_TRUE(is_valid_metric_name("seedforge_stage1_loss"));
  EXPECT_TRUE(is_valid_metric_name("job:rate_5m"));
  EXPECT_TRUE(is_valid_metric_name("_x9"));
  EXPECT_FALSE(is_valid_metric_name(""));
  EXPECT_FALSE(is_valid_metric_name("1abc"));
  EXPECT_FALSE(is_valid_metric_name("a-b"));
  EXPECT_FALSE(is_valid_metric_name("a b"));
  EXPECT_TRUE(is_valid_label_name("model"));
  EXPECT_FALSE(is_valid_label_name("__name__"));
  EXPECT_FALSE(is_valid_label_name("a:b"));
  EXPECT_FALSE(is_valid_label_name("9a"));

  MetricsRegistry r;
  EXPECT_THROW(r.set_gauge("bad-name", 1), Error);
  EXPECT_THROW(r.declare("", MetricType::kGauge, "h"), Error);
  try {
    r.set_gauge("ok", 1, {{"bad label", "x"}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_NE(std::string(e.what()).find("'bad label'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(r.render_text(), "");  // nothing half-registered
}

TEST(Metrics, TypesAndCountersAreEnforced) {
  MetricsRegistry r;
  r.set_gauge("g", 1);
  EXPECT_THROW(r.add_counter("g", 1), Error);
  EXPECT_THROW(r.declare("g", MetricType::kCounter, "h"), Error);
  r.add_counter("c_total", 0);
  EXPECT_THROW(r.add_counter("c_total", -1), Error);
  EXPECT_THROW(r.add_counter("c_total", std::nan("")), Error);
  EXPECT_THROW(r.set_gauge("c_total", 1), Error);
  EXPECT_EQ(r.value("c_total"), 0.0);
  EXPECT_TRUE(r.has("g"));
  EXPECT_FALSE(r.has("g", {{"l", "v"}}));
  EXPECT_THROW(r.value("missing"), Error);
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry r;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&r, t] {
      for (int i = 0; i < 1000; ++i) {
        r.add_counter("c_total", 1);
        r.set_gauge("g", i, {{"thread", std::to_string(t)}});
        if (i % 100 == 0) r.render_text();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(r.value("c_total"), 4000.0);
  for (int t = 0; t < 4; ++t) EXPECT_EQ(r.value("g", {{"thread", std::to_string(t)}}), 999.0);
}

TEST(Metrics, TextfileIsWrittenWhole) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("seedforge_metrics_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "seedforge.prom").string();
  MetricsRegistry r;
  r.set_gauge("seedforge_stage1_step", 10);
  r.write_textfile(path);
  EXPECT_EQ(read_file_text(path), "# TYPE seedforge_stage1_step gauge\nseedforge_stage1_step 10\n");
  r.set_gauge("seedforge_stage1_step", 11);
  r.write_textfile(path);
  EXPECT_EQ(read_file_text(path), r.render_text());
  // Only the final file remains: no temporary beside it.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()), 1);
  EXPECT_THROW(r.write_textfile((dir / "missing" / "x.prom").string()), Error);
  std::filesystem::remove_all(dir);
}

TEST(Stage1Metrics, DeclaresValidNamesAndTracksTheStage) {
  MetricsRegistry r;
  declare_stage1_metrics(r);
  EXPECT_EQ(r.render_text(), "");  // declared only
  set_current_stage(r, "load");
  set_current_stage(r, "finetune");
  r.add_counter(stage1_metric::kBlocksEncodedTotal, 5);
  EXPECT_EQ(r.value(stage1_metric::kStage, {{"stage", "load"}}), 0.0);
  EXPECT_EQ(r.value(stage1_metric::kStage, {{"stage", "finetune"}}), 1.0);
  set_current_stage(r, "load");
  EXPECT_EQ(r.value(stage1_metric::kStage, {{"stage", "load"}}), 1.0);
  EXPECT_EQ(r.value(stage1_metric::kStage, {{"stage", "finetune"}}), 0.0);
  const std::string text = r.render_text();
  EXPECT_NE(text.find("# TYPE seedforge_stage1_blocks_encoded_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# HELP seedforge_stage1_stage "), std::string::npos) << text;
  // The declared types hold: the counter cannot be set as a gauge.
  EXPECT_THROW(r.set_gauge(stage1_metric::kBlocksEncodedTotal, 1), Error);
  for (const char* name : {stage1_metric::kStep, stage1_metric::kLoss, stage1_metric::kLambda,
                           stage1_metric::kCompressionRatio, stage1_metric::kAccuracyRetention,
                           stage1_metric::kInputBytes, stage1_metric::kOutputBytes, stage1_metric::kTop1,
                           stage1_metric::kPerplexity, stage1_metric::kStageSeconds}) {
    EXPECT_TRUE(is_valid_metric_name(name)) << name;
    EXPECT_NO_THROW(r.set_gauge(name, 1)) << name;
  }
}

}  // namespace
}  // namespace seedforge
