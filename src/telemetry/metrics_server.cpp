#include "telemetry/metrics_server.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>

#include <httplib.h>

#include "common/error.h"

namespace seedforge {

MetricsServer::MetricsServer(const MetricsRegistry& registry, int port, const std::string& host)
    : server_(std::make_unique<httplib::Server>()), host_(host) {
  if (port < 0 || port > 65535) throw usage_error("metrics port must be in [0, 65535], got ", port);
  httplib::Server& server = *server_;
  // Scrapes are rare and tiny: two workers instead of httplib's default of
  // one per core, and short keep-alive so stop() is never held up.
  server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  server.set_keep_alive_timeout(1);
  // httplib's default sets SO_REUSEPORT, with which a second process (say,
  // another stage1 run) binds the same port silently and steals half the
  // scrapes. SO_REUSEADDR alone still allows a quick restart after TIME_WAIT
  // but refuses a port someone is listening on.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& response) {
    response.set_content(registry.render_text(), "text/plain; version=0.0.4; charset=utf-8");
  });

  if (port == 0) {
    port_ = server.bind_to_any_port(host);
    if (port_ < 0) throw runtime_error("metrics server: cannot bind a free port on ", host);
  } else {
    if (!server.bind_to_port(host, port)) {
      throw runtime_error("metrics server: cannot listen on ", host, ":", port, " (port in use?)");
    }
    port_ = port;
  }
  auto finished = std::make_shared<std::atomic<bool>>(false);
  thread_ = std::thread([&server, finished] {
    server.listen_after_bind();
    *finished = true;
  });
  // httplib's stop() does nothing until the accept loop has started, so wait
  // for it here; otherwise a quick stop() could leave the thread listening
  // forever. The socket already listens: early connections wait in the backlog.
  while (!server.is_running()) {
    if (*finished) {
      thread_.join();
      throw runtime_error("metrics server on ", host, ":", port_, " stopped as soon as it started");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

MetricsServer::~MetricsServer() { stop(); }

void MetricsServer::stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

}  // namespace seedforge
