// MetricsServer: serves a MetricsRegistry at http://<host>:<port>/metrics
// from a background thread, for a Prometheus scrape during a long run.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "telemetry/metrics.h"

namespace httplib {
class Server;
}

namespace seedforge {

class MetricsServer {
 public:
  // Listens before returning. `port` 0 picks a free port (see port()).
  // 127.0.0.1 by default: exposing a training host is the caller's choice.
  // A port in use is a runtime_error naming host and port.
  MetricsServer(const MetricsRegistry& registry, int port, const std::string& host = "127.0.0.1");
  ~MetricsServer();  // stop()
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }
  const std::string& host() const { return host_; }
  // Stops accepting, lets in-flight requests finish, joins the thread. Idempotent.
  void stop();

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string host_;
  int port_ = 0;
};

}  // namespace seedforge
