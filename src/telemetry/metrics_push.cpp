// MetricsRegistry::push_to_gateway: one HTTP PUT to a Prometheus Pushgateway.
#include <regex>

#include <httplib.h>

#include "common/error.h"
#include "telemetry/metrics.h"

namespace seedforge {

void MetricsRegistry::push_to_gateway(const std::string& url, const std::string& job) const {
  // httplib::Client takes "scheme://host:port" only, so a path prefix
  // (a gateway behind a reverse proxy) is split off here.
  static const std::regex url_pattern(R"(^(https?://[^/?#]+)(/[^?#]*)?$)");
  std::smatch match;
  if (!std::regex_match(url, match, url_pattern)) {
    throw usage_error("Pushgateway URL '", url, "' is not http[s]://host[:port][/prefix]");
  }
  static const std::regex job_pattern(R"(^[A-Za-z0-9_.:-]+$)");
  if (!std::regex_match(job, job_pattern)) {
    throw usage_error("Pushgateway job name '", job, "' must match [A-Za-z0-9_.:-]+");
  }
  std::string prefix = match[2].str();
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  const std::string path = prefix + "/metrics/job/" + job;

  httplib::Client client(match[1].str());
  if (!client.is_valid()) throw runtime_error("push to '", url, "' failed: cannot create an HTTP client for it");
  // A training run must not hang on a dead gateway.
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  client.set_write_timeout(10);

  const std::string body = render_text();
  const httplib::Result result = client.Put(path, body, "text/plain; version=0.0.4");
  if (!result) {
    throw runtime_error("push to '", url, "' (PUT ", path, ") failed: ", httplib::to_string(result.error()));
  }
  if (result->status < 200 || result->status >= 300) {
    std::string answer = result->body.substr(0, 200);
    while (!answer.empty() && (answer.back() == '\n' || answer.back() == '\r')) answer.pop_back();
    throw runtime_error("push to '", url, "' (PUT ", path, ") failed: HTTP ", result->status,
                        answer.empty() ? "" : ": ", answer);
  }
}

}  // namespace seedforge
