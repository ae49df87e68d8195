// MetricsServer scraped over loopback, fed malformed, oversized and slow
// requests, and push_to_gateway against a tiny local httplib server standing
// in for a Pushgateway. 127.0.0.1 only; every wait is bounded and nothing
// asserts a duration.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include <httplib.h>

#include "common/error.h"
#include "telemetry/metrics.h"
#include "telemetry/metrics_server.h"
#include "telemetry/raw_http_client.h"

namespace seedforge {
namespace {

std::string message_of(const std::function<void()>& f, ErrorKind kind) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected an error";
  return "";
}

httplib::Client loopback_client(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  return client;
}

TEST(MetricsServer, ServesTheRegistryOnAFreePort) {
  MetricsRegistry registry;
  registry.declare("seedforge_stage1_loss", MetricType::kGauge, "Loss.");
  registry.set_gauge("seedforge_stage1_loss", 2.5);
  MetricsServer server(registry, 0);
  ASSERT_GT(server.port(), 0);
  EXPECT_EQ(server.host(), "127.0.0.1");

  httplib::Client client = loopback_client(server.port());
  httplib::Result first = client.Get("/metrics");
  ASSERT_TRUE(first) << httplib::to_string(first.error());
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(first->body.find("\nseedforge_stage1_loss 2.5\n"), std::string::npos) << first->body;
  EXPECT_EQ(first->body, registry.render_text());

  // Every scrape renders afresh.
  registry.set_gauge("seedforge_stage1_loss", 1.75);
  httplib::Result second = client.Get("/metrics");
  ASSERT_TRUE(second);
  EXPECT_NE(second->body.find("\nseedforge_stage1_loss 1.75\n"), std::string::npos) << second->body;

  httplib::Result other = client.Get("/other");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);

  server.stop();
  server.stop();  // idempotent
  httplib::Client after = loopback_client(server.port());
  EXPECT_FALSE(after.Get("/metrics"));
}

TEST(MetricsServer, StartsAndStopsRightAway) {
  MetricsRegistry registry;
  for (int i = 0; i < 5; ++i) MetricsServer server(registry, 0);  // destructor joins
}

TEST(MetricsServer, BusyPortIsARuntimeErrorNamingIt) {
  MetricsRegistry registry;
  MetricsServer first(registry, 0);
  const std::string what =
      message_of([&] { MetricsServer second(registry, first.port()); }, ErrorKind::kRuntime);
  EXPECT_NE(what.find("127.0.0.1:" + std::to_string(first.port())), std::string::npos) << what;
  EXPECT_THROW(MetricsServer(registry, 70000), Error);
}

TEST(MetricsServer, AnswersBadRequestsAndKeepsServing) {
  MetricsRegistry registry;
  registry.set_gauge("seedforge_stage1_step", 3);
  MetricsServer server(registry, 0);
  const int port = server.port();
  auto status_of = [&](const std::string& request) {
    const std::string response = test::http_exchange(port, request);
    return response.substr(0, response.find("\r\n"));
  };
  // Malformed request lines.
  for (const std::string& bad : {std::string("garbage\r\n\r\n"), std::string("GET /metrics\r\n\r\n"),
                                 std::string("GET /metrics HTTP/9.9\r\n\r\n"), std::string(" / HTTP/1.1\r\n\r\n"),
                                 std::string("GET  /metrics HTTP/1.1\r\n\r\n"), std::string("\r\n\r\n"),
                                 std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n", 13)}) {
    EXPECT_EQ(status_of(bad), "HTTP/1.1 400 Bad Request") << test::http_exchange(port, bad);
  }
  EXPECT_EQ(status_of("GET /other HTTP/1.1\r\n\r\n"), "HTTP/1.1 404 Not Found");
  EXPECT_EQ(status_of("DELETE /metrics HTTP/1.1\r\n\r\n"), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(status_of("POST /metrics HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n"), "HTTP/1.1 413 Payload Too Large");
  EXPECT_EQ(status_of("GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), "HTTP/1.1 413 Payload Too Large");
  // Headers past the limit: 431 (or a reset, when the kernel drops our unread
  // remainder first); either way the server goes on.
  const std::string huge = "GET /metrics HTTP/1.1\r\nX-Filler: " + std::string(100000, 'a') + "\r\n\r\n";
  const std::string status = status_of(huge);
  EXPECT_TRUE(status.empty() || status == "HTTP/1.1 431 Request Header Fields Too Large") << status;
  // HEAD, a query string and Content-Length: 0 are fine.
  const std::string head = test::http_exchange(port, "HEAD /metrics HTTP/1.0\r\n\r\n");
  EXPECT_EQ(head.substr(0, 15), "HTTP/1.1 200 OK") << head;
  EXPECT_EQ(head.find("seedforge_stage1_step"), std::string::npos) << head;
  EXPECT_EQ(status_of("GET /metrics?x=1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), "HTTP/1.1 200 OK");

  const std::string ok = test::http_exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ok.substr(0, 15), "HTTP/1.1 200 OK") << ok;
  EXPECT_NE(ok.find("\r\n\r\n" + registry.render_text()), std::string::npos) << ok;
}

TEST(MetricsServer, SlowAndIdleClientsDoNotHoldUpScrapes) {
  MetricsRegistry registry;
  registry.set_gauge("seedforge_stage1_step", 7);
  MetricsServer::Limits limits;
  limits.request_timeout_ms = 500;
  limits.max_connections = 16;
  MetricsServer server(registry, 0, "127.0.0.1", limits);
  // More silent connections than the server keeps, a client that sends a
  // request one byte at a time, and one that never reads its answer.
  std::vector<test::LoopbackSocket> idle;
  for (int i = 0; i < 40; ++i) idle.emplace_back(server.port());
  test::LoopbackSocket trickle(server.port());
  ASSERT_GE(trickle.fd(), 0);
  ASSERT_TRUE(trickle.send_all("G"));
  ASSERT_TRUE(trickle.send_all("E"));
  test::LoopbackSocket no_reader(server.port());
  ASSERT_TRUE(no_reader.send_all("GET /metrics HTTP/1.1\r\n\r\n"));

  // A scrape is still answered in full, and a hundred more after it.
  for (int i = 0; i < 100; ++i) {
    const std::string ok = test::http_exchange(server.port(), "GET /metrics HTTP/1.1\r\n\r\n");
    ASSERT_EQ(ok.substr(0, 15), "HTTP/1.1 200 OK") << i << ": " << ok;
    ASSERT_NE(ok.find("seedforge_stage1_step 7\n"), std::string::npos) << ok;
  }
  // The slow ones are closed by the server, not left open forever.
  for (auto& socket : idle) EXPECT_TRUE(socket.closed_by_peer_within(10000));
  trickle.send_all("T");
  EXPECT_TRUE(trickle.closed_by_peer_within(10000));
}

TEST(MetricsServer, ListensOnTheGivenHost) {
  MetricsRegistry registry;
  MetricsServer any(registry, 0, "0.0.0.0");  // all interfaces, loopback included
  EXPECT_EQ(any.host(), "0.0.0.0");
  EXPECT_EQ(test::http_exchange(any.port(), "GET /metrics HTTP/1.1\r\n\r\n").substr(0, 15), "HTTP/1.1 200 OK");
}

// A stand-in Pushgateway recording each PUT.
class FakeGateway {
 public:
  FakeGateway() {
    server_.new_task_queue = [] { return new httplib::ThreadPool(1); };
    server_.Put(R"(/.*)", [this](const httplib::Request& request, httplib::Response& response) {
      std::lock_guard<std::mutex> lock(mutex_);
      paths_.push_back(request.path);
      bodies_.push_back(request.body);
      content_type_ = request.get_header_value("Content-Type");
      if (request.path.find("/job/refuse") != std::string::npos) {
        response.status = 400;
        response.set_content("pushed metrics are invalid\n", "text/plain");
      } else {
        response.status = 200;
      }
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ~FakeGateway() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> paths() {
    std::lock_guard<std::mutex> lock(mutex_);
    return paths_;
  }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> lock(mutex_);
    return bodies_;
  }
  std::string content_type() {
    std::lock_guard<std::mutex> lock(mutex_);
    return content_type_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::vector<std::string> paths_, bodies_;
  std::string content_type_;
};

TEST(PushToGateway, PutsTheRenderedTextUnderTheJob) {
  FakeGateway gateway;
  MetricsRegistry registry;
  registry.set_gauge("seedforge_stage1_compression_ratio", 10.5);
  registry.set_gauge("seedforge_stage1_top1", 0.5, {{"model", "original"}});
  registry.push_to_gateway(gateway.url(), "seedforge_stage1");
  registry.push_to_gateway(gateway.url() + "/prefix/", "run-2");
  ASSERT_EQ(gateway.paths(), (std::vector<std::string>{"/metrics/job/seedforge_stage1", "/prefix/metrics/job/run-2"}));
  EXPECT_EQ(gateway.bodies()[0], registry.render_text());
  EXPECT_NE(gateway.bodies()[0].find("seedforge_stage1_compression_ratio 10.5\n"), std::string::npos);
  EXPECT_EQ(gateway.content_type(), "text/plain; version=0.0.4");
}

TEST(PushToGateway, ErrorsNameTheUrl) {
  FakeGateway gateway;
  MetricsRegistry registry;
  registry.set_gauge("g", 1);
  std::string what = message_of([&] { registry.push_to_gateway(gateway.url(), "refuse"); }, ErrorKind::kRuntime);
  EXPECT_NE(what.find(gateway.url()), std::string::npos) << what;
  EXPECT_NE(what.find("HTTP 400: pushed metrics are invalid"), std::string::npos) << what;

  // Nobody listening any more: the connection is refused.
  const std::string closed_url = gateway.url();
  gateway.stop();
  what = message_of([&] { registry.push_to_gateway(closed_url, "job"); }, ErrorKind::kRuntime);
  EXPECT_NE(what.find("push to '" + closed_url + "'"), std::string::npos) << what;

  what = message_of([&] { registry.push_to_gateway("ftp://127.0.0.1:1", "job"); }, ErrorKind::kUsage);
  EXPECT_NE(what.find("ftp://127.0.0.1:1"), std::string::npos) << what;
  what = message_of([&] { registry.push_to_gateway("http://127.0.0.1:1", "a/b"); }, ErrorKind::kUsage);
  EXPECT_NE(what.find("'a/b'"), std::string::npos) << what;
}

}  // namespace
}  // namespace seedforge
