// A small thread-safe Prometheus registry: gauges and counters, optional
// labels, HELP/TYPE lines, rendered in the text exposition format 0.0.4.
//
// Output of render_text(), families sorted by name, series by labels:
//
//   # HELP seedforge_stage1_loss Training loss of the last optimizer step.
//   # TYPE seedforge_stage1_loss gauge
//   seedforge_stage1_loss 2.5
//   # TYPE seedforge_stage1_top1 gauge
//   seedforge_stage1_top1{model="compressed"} 0.51
//   seedforge_stage1_top1{model="original"} 0.52
//
// Values print in their shortest exact form (0.1, 3, 1e+21, NaN, +Inf, -Inf).
// Label values are escaped (\\, \", \n); HELP text escapes \\ and \n. Metric
// names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
// without a leading "__" (reserved); anything else is a usage_error. A family
// declared but without samples is not rendered.
//
// The names the Stage-1 pipeline publishes are in stage1_metrics.h.
#pragma once

#include <map>
#include <mutex>
#include <string>

namespace seedforge {

enum class MetricType { kGauge, kCounter };

// Label name -> value; a std::map so that series render in a stable order.
using MetricLabels = std::map<std::string, std::string>;

class MetricsRegistry {
 public:
  // Declares a family with its HELP text. Re-declaring with the same type
  // updates the help; with another type it is a usage_error.
  void declare(const std::string& name, MetricType type, const std::string& help);

  // Sets a gauge series (declaring an undocumented gauge family if needed).
  void set_gauge(const std::string& name, double value, const MetricLabels& labels = {});
  // Sets series {label=value} of gauge `name` to 1 and every other series of
  // the family to 0 (e.g. the running stage among the stages seen so far).
  void set_one_hot_gauge(const std::string& name, const std::string& label, const std::string& value);
  // Adds `delta` (>= 0, else usage_error) to a counter series, starting at 0.
  void add_counter(const std::string& name, double delta, const MetricLabels& labels = {});

  // The current value of a series; usage_error when it has never been set.
  double value(const std::string& name, const MetricLabels& labels = {}) const;
  bool has(const std::string& name, const MetricLabels& labels = {}) const;

  // The whole registry in the text exposition format 0.0.4.
  std::string render_text() const;

  // render_text() written atomically (temporary file + rename), the way
  // node_exporter's textfile collector expects *.prom files to appear.
  void write_textfile(const std::string& path) const;

  // HTTP PUT of render_text() to <url>/metrics/job/<job> (Prometheus
  // Pushgateway: replaces every metric of that job). `url` is
  // http[s]://host[:port][/prefix]; `job` is [A-Za-z0-9_.:-]+. A refused
  // connection or a non-2xx answer is a runtime_error naming the URL.
  void push_to_gateway(const std::string& url, const std::string& job) const;

 private:
  struct Family {
    MetricType type = MetricType::kGauge;
    std::string help;
    std::map<MetricLabels, double> series;
  };
  Family& family_locked(const std::string& name, MetricType type);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
};

// Text exposition pieces, public for tests and for callers that print values.
bool is_valid_metric_name(const std::string& name);
bool is_valid_label_name(const std::string& name);
std::string escape_label_value(const std::string& value);
std::string format_metric_value(double value);

}  // namespace seedforge
