#include "telemetry/metrics.h"

#include <charconv>
#include <cmath>

#include "common/error.h"
#include "common/file_util.h"

namespace seedforge {

namespace {

bool is_name_start(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
}
bool is_name_char(char c, bool allow_colon) { return is_name_start(c, allow_colon) || (c >= '0' && c <= '9'); }

bool is_valid_name(const std::string& name, bool allow_colon) {
  if (name.empty() || !is_name_start(name[0], allow_colon)) return false;
  for (const char c : name) {
    if (!is_name_char(c, allow_colon)) return false;
  }
  return true;
}

void check_metric_name(const std::string& name) {
  if (!is_valid_metric_name(name)) {
    throw usage_error("invalid Prometheus metric name '", name, "': expected [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
}

void check_labels(const std::string& metric, const MetricLabels& labels) {
  for (const auto& [name, value] : labels) {
    if (!is_valid_label_name(name)) {
      throw usage_error("invalid label name '", name, "' on metric '", metric,
                        "': expected [a-zA-Z_][a-zA-Z0-9_]* not starting with __");
    }
  }
}

const char* type_name(MetricType type) { return type == MetricType::kCounter ? "counter" : "gauge"; }

// HELP text escapes only backslash and newline (format 0.0.4).
std::string escape_help(const std::string& help) {
  std::string out;
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string series_name(const std::string& name, const MetricLabels& labels) {
  if (labels.empty()) return name;
  std::string out = name + "{";
  bool first = true;
  for (const auto& [label, value] : labels) {
    if (!first) out += ",";
    first = false;
    out += label + "=\"" + escape_label_value(value) + "\"";
  }
  return out + "}";
}

}  // namespace

bool is_valid_metric_name(const std::string& name) { return is_valid_name(name, /*allow_colon=*/true); }

bool is_valid_label_name(const std::string& name) {
  return is_valid_name(name, /*allow_colon=*/false) && name.rfind("__", 0) != 0;
}

std::string escape_label_value(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_metric_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Shortest text that parses back to the same double (what Go's
  // strconv.FormatFloat(v, 'g', -1, 64) aims at too).
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

MetricsRegistry::Family& MetricsRegistry::family_locked(const std::string& name, MetricType type) {
  check_metric_name(name);
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(name, Family{}).first;
    it->second.type = type;
  } else if (it->second.type != type) {
    throw usage_error("metric '", name, "' is a ", type_name(it->second.type), ", used as a ", type_name(type));
  }
  return it->second;
}

void MetricsRegistry::declare(const std::string& name, MetricType type, const std::string& help) {
  std::lock_guard<std::mutex> lock(mutex_);
  family_locked(name, type).help = help;
}

void MetricsRegistry::set_gauge(const std::string& name, double value, const MetricLabels& labels) {
  check_labels(name, labels);
  std::lock_guard<std::mutex> lock(mutex_);
  family_locked(name, MetricType::kGauge).series[labels] = value;
}

void MetricsRegistry::set_one_hot_gauge(const std::string& name, const std::string& label, const std::string& value) {
  const MetricLabels hot = {{label, value}};
  check_labels(name, hot);
  std::lock_guard<std::mutex> lock(mutex_);
  Family& family = family_locked(name, MetricType::kGauge);
  for (auto& [labels, v] : family.series) v = 0.0;
  family.series[hot] = 1.0;
}

void MetricsRegistry::add_counter(const std::string& name, double delta, const MetricLabels& labels) {
  check_labels(name, labels);
  // A counter only goes up (a restart resets it to 0); NaN is refused too.
  if (!(delta >= 0)) throw usage_error("counter '", name, "' cannot change by ", format_metric_value(delta));
  std::lock_guard<std::mutex> lock(mutex_);
  family_locked(name, MetricType::kCounter).series[labels] += delta;
}

bool MetricsRegistry::has(const std::string& name, const MetricLabels& labels) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto family = families_.find(name);
  return family != families_.end() && family->second.series.count(labels) != 0;
}

double MetricsRegistry::value(const std::string& name, const MetricLabels& labels) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto family = families_.find(name);
  if (family != families_.end()) {
    const auto series = family->second.series.find(labels);
    if (series != family->second.series.end()) return series->second;
  }
  throw usage_error("metric series ", series_name(name, labels), " has no value");
}

std::string MetricsRegistry::render_text() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const auto& [name, family] : families_) {
    if (family.series.empty()) continue;
    if (!family.help.empty()) out += "# HELP " + name + " " + escape_help(family.help) + "\n";
    out += "# TYPE " + name + " " + type_name(family.type) + "\n";
    for (const auto& [labels, value] : family.series) {
      out += series_name(name, labels) + " " + format_metric_value(value) + "\n";
    }
  }
  return out;
}

void MetricsRegistry::write_textfile(const std::string& path) const {
  const std::string text = render_text();
  write_file_atomic(path, text.data(), text.size());
}

}  // namespace seedforge
