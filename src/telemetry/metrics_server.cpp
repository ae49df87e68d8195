#include "telemetry/metrics_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/error.h"

namespace seedforge {

namespace {

using Clock = std::chrono::steady_clock;

struct Connection {
  int fd = -1;
  Clock::time_point accepted, deadline;
  std::string request;   // bytes received so far
  std::string response;  // non-empty once answered
  size_t sent = 0;
  bool done = false;  // to be closed
};

std::string http_response(int status, const char* reason, const std::string& body, bool head_only = false,
                          const char* content_type = "text/plain; charset=utf-8", const char* extra_header = "") {
  std::string out = concat("HTTP/1.1 ", status, " ", reason, "\r\nContent-Type: ", content_type,
                           "\r\nContent-Length: ", body.size(), "\r\n", extra_header, "Connection: close\r\n\r\n");
  if (!head_only) out += body;
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// `head`: the request line and headers, without the blank line that ends them.
std::string answer(const std::string& head, const MetricsRegistry& registry) {
  const size_t line_end = head.find('\n');
  std::string line = head.substr(0, line_end);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const size_t a = line.find(' ');
  const size_t b = a == std::string::npos ? a : line.find(' ', a + 1);
  const std::string version = b == std::string::npos ? "" : line.substr(b + 1);
  if (a == 0 || b == std::string::npos || b == a + 1 || (version != "HTTP/1.0" && version != "HTTP/1.1")) {
    return http_response(400, "Bad Request", "malformed request line\n");
  }
  const std::string method = line.substr(0, a);
  const std::string target = line.substr(a + 1, b - a - 1);
  // Scrapes carry no body; one announced is refused rather than read.
  const std::string headers = lower(line_end == std::string::npos ? "" : head.substr(line_end));
  const size_t length_at = headers.find("\ncontent-length:");
  const bool has_body =
      headers.find("\ntransfer-encoding:") != std::string::npos ||
      (length_at != std::string::npos &&
       std::strtoull(headers.c_str() + length_at + std::strlen("\ncontent-length:"), nullptr, 10) > 0);
  if (has_body) return http_response(413, "Payload Too Large", "/metrics takes no request body\n");
  if (target.substr(0, target.find('?')) != "/metrics") {
    return http_response(404, "Not Found", "only /metrics is served\n");
  }
  if (method != "GET" && method != "HEAD") {
    return http_response(405, "Method Not Allowed", "use GET\n", false, "text/plain; charset=utf-8",
                         "Allow: GET, HEAD\r\n");
  }
  return http_response(200, "OK", registry.render_text(), method == "HEAD", "text/plain; version=0.0.4; charset=utf-8");
}

// Sends what the socket takes now; marks the connection done when all is sent
// or the peer has gone.
void send_some(Connection& c) {
  while (c.sent < c.response.size()) {
    const ssize_t n = ::send(c.fd, c.response.data() + c.sent, c.response.size() - c.sent, MSG_NOSIGNAL);
    if (n > 0) {
      c.sent += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    c.done = true;
    return;
  }
  c.done = true;
}

// Reads what has arrived; answers once the headers are complete or too long.
void receive_some(Connection& c, const MetricsServer::Limits& limits, const MetricsRegistry& registry) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(c.fd, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {  // closed by the client before a whole request, or an error
      c.done = true;
      return;
    }
    c.request.append(buffer, size_t(n));
    size_t end = c.request.find("\r\n\r\n");
    if (end == std::string::npos) end = c.request.find("\n\n");
    if (end != std::string::npos && end <= limits.max_request_bytes) {
      c.response = answer(c.request.substr(0, end), registry);
    } else if (c.request.size() > limits.max_request_bytes) {
      c.response = http_response(431, "Request Header Fields Too Large",
                                 concat("request line and headers exceed ", limits.max_request_bytes, " bytes\n"));
    } else {
      continue;
    }
    c.request.clear();
    // Nothing more is read: half-close our reading side.
    ::shutdown(c.fd, SHUT_RD);
    send_some(c);
    return;
  }
}

}  // namespace

MetricsServer::MetricsServer(const MetricsRegistry& registry, int port, const std::string& host)
    : MetricsServer(registry, port, host, Limits{}) {}

MetricsServer::MetricsServer(const MetricsRegistry& registry, int port, const std::string& host, const Limits& limits)
    : registry_(registry), limits_(limits), host_(host) {
  if (port < 0 || port > 65535) throw usage_error("metrics port must be in [0, 65535], got ", port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int gai = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (gai != 0) throw usage_error("metrics host '", host, "': ", ::gai_strerror(gai));
  std::string why;
  for (addrinfo* ai = found; ai != nullptr && listen_fd_ < 0; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    // SO_REUSEADDR (not SO_REUSEPORT, with which a second process, say another
    // stage1 run, would bind the same port silently and steal half the
    // scrapes) allows a quick restart after TIME_WAIT but refuses a port
    // someone is listening on.
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
      why = errno == EADDRINUSE ? "port in use" : std::strerror(errno);
      ::close(fd);
      continue;
    }
    listen_fd_ = fd;
  }
  ::freeaddrinfo(found);
  if (listen_fd_ < 0) throw runtime_error("metrics server: cannot listen on ", host, ":", port, " (", why, ")");
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &length);
  port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  int wake[2];
  if (::pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    ::close(listen_fd_);
    throw runtime_error("metrics server: cannot create a pipe: ", std::strerror(errno));
  }
  wake_read_ = wake[0];
  wake_write_ = wake[1];
  // The socket listens already: connections made before the thread polls wait in the backlog.
  thread_ = std::thread([this] { serve(); });
}

MetricsServer::~MetricsServer() { stop(); }

void MetricsServer::stop() {
  if (!thread_.joinable()) return;
  (void)!::write(wake_write_, "x", 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_read_);
  ::close(wake_write_);
}

void MetricsServer::serve() {
  // Named so that top -H and /proc/<pid>/task/*/comm show what it costs
  // (bench/telemetry/metrics_scrape_load.sh reads it).
  pthread_setname_np(pthread_self(), "sf-metrics");
  std::vector<Connection> connections;
  std::vector<pollfd> fds;
  const auto timeout = std::chrono::milliseconds(limits_.request_timeout_ms);
  for (;;) {
    fds.clear();
    fds.push_back({wake_read_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    Clock::time_point next_deadline = Clock::time_point::max();
    for (const Connection& c : connections) {
      fds.push_back({c.fd, short(c.response.empty() ? POLLIN : POLLOUT), 0});
      next_deadline = std::min(next_deadline, c.deadline);
    }
    int wait_ms = -1;
    if (!connections.empty()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_deadline - Clock::now()).count();
      wait_ms = int(std::max<int64_t>(0, left) + 1);
    }
    if (::poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) break;
    if (fds[0].revents != 0) break;  // stop()

    for (size_t i = 0; i < connections.size(); ++i) {
      Connection& c = connections[i];
      const short revents = fds[i + 2].revents;
      if (revents == 0) continue;
      if (c.response.empty()) {
        receive_some(c, limits_, registry_);
      } else if (revents & (POLLERR | POLLHUP)) {
        c.done = true;
      } else {
        send_some(c);
      }
    }
    const Clock::time_point now = Clock::now();
    for (Connection& c : connections) {
      if (now >= c.deadline) c.done = true;  // too slow sending its request or taking the answer
    }
    if (fds[1].revents & POLLIN) {
      for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;  // EAGAIN: none left (or a transient error: poll again)
        size_t open = 0;
        for (const Connection& c : connections) open += c.done ? 0 : 1;
        if (open >= limits_.max_connections) {
          // Full: drop the oldest connection still sending its request.
          auto oldest = connections.end();
          for (auto it = connections.begin(); it != connections.end(); ++it) {
            if (!it->done && it->response.empty() && (oldest == connections.end() || it->accepted < oldest->accepted))
              oldest = it;
          }
          if (oldest == connections.end()) {
            ::close(fd);
            continue;
          }
          oldest->done = true;
        }
        Connection c;
        c.fd = fd;
        c.accepted = Clock::now();
        c.deadline = c.accepted + timeout;
        // A scraper sends its request right after connecting: read it now
        // rather than after another trip through poll().
        receive_some(c, limits_, registry_);
        connections.push_back(std::move(c));
      }
    }
    for (const Connection& c : connections) {
      if (c.done) ::close(c.fd);
    }
    connections.erase(
        std::remove_if(connections.begin(), connections.end(), [](const Connection& c) { return c.done; }),
        connections.end());
  }
  for (const Connection& c : connections) ::close(c.fd);
}

}  // namespace seedforge
