// MetricsServer: serves a MetricsRegistry at http://<host>:<port>/metrics
// from a background thread, for a Prometheus scrape during a long run.
//
// One thread, non-blocking sockets and poll(): a client that connects and
// sends nothing, or sends a byte a second, costs a file descriptor until its
// deadline, never a worker, so other scrapes are still answered at once and
// the run is never held up. Each connection must deliver its request (at most
// Limits::max_request_bytes of request line and headers) and take the
// response within Limits::request_timeout_ms, else it is closed. Malformed
// requests get 400, other paths 404, methods other than GET/HEAD 405, a body
// 413, oversized headers 431; every response closes the connection.
#pragma once

#include <cstddef>
#include <string>
#include <thread>

#include "telemetry/metrics.h"

namespace seedforge {

class MetricsServer {
 public:
  struct Limits {
    size_t max_request_bytes = 8192;  // request line + headers
    int request_timeout_ms = 2000;    // from accept to the last byte of the response
    // Open connections; when full, the oldest one still sending its request
    // is closed to make room, so idle clients cannot lock scrapers out.
    size_t max_connections = 64;
  };

  // Listens before returning. `port` 0 picks a free port (see port()).
  // 127.0.0.1 by default: exposing a training host is the caller's choice.
  // A port in use is a runtime_error naming host and port; a host that does
  // not resolve is a usage_error naming it.
  MetricsServer(const MetricsRegistry& registry, int port, const std::string& host = "127.0.0.1");
  MetricsServer(const MetricsRegistry& registry, int port, const std::string& host, const Limits& limits);
  ~MetricsServer();  // stop()
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }
  const std::string& host() const { return host_; }
  // Stops accepting, closes every connection, joins the thread. Idempotent.
  void stop();

 private:
  void serve();

  const MetricsRegistry& registry_;
  Limits limits_;
  std::string host_;
  int port_ = 0;
  int listen_fd_ = -1;
  int wake_read_ = -1, wake_write_ = -1;  // stop() writes a byte to end poll()
  std::thread thread_;
};

}  // namespace seedforge
