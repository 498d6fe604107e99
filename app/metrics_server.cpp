#include "app/metrics_server.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include <sys/socket.h>

#include <fmt/format.h>
#include <httplib.h>

#include "config/usage.hpp"

namespace pixline {

metrics_server::metrics_server(const listen_address& address,
                               std::shared_ptr<const metrics_registry> metrics,
                               const std::string& origin)
  : metrics_(std::move(metrics)), server_(std::make_unique<httplib::Server>()) {
  // A scrape every few seconds needs no more than two threads (httplib's
  // default pool has at least eight).
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  auto registry = metrics_;
  server_->Get("/metrics", [registry](const httplib::Request&,
                                      httplib::Response& res) {
    res.set_content(registry->render(), std::string{metrics_content_type});
  });
  // Alive: the process serves requests.
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  // Ready: the pipeline is built and takes work (not while it starts,
  // drains for a reload or a signal, or has finished).
  server_->Get("/readyz", [registry](const httplib::Request&,
                                     httplib::Response& res) {
    bool ready = registry->ready();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "ready\n" : "not ready\n", "text/plain");
  });
  // httplib's default sets SO_REUSEPORT, with which a second run (or any
  // program doing the same) binds the same port and Linux shares the
  // scrapes between the two. SO_REUSEADDR alone still lets a restart take
  // a port whose old connections linger in TIME_WAIT, but never a port
  // someone listens on: that is an error (exit 2).
  server_->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  errno = 0;
  if (!server_->bind_to_port(address.host, address.port)) {
    int err = errno;
    throw usage_error(fmt::format(
      "{} {}:{}: cannot listen for metrics{}", origin, address.host,
      address.port,
      err != 0 ? fmt::format(": {}", std::strerror(err))
               : std::string{" (address in use, or not one of this "
                             "machine's?)"}));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() does nothing until the server loop has started, so wait for it:
  // a run that ends at once must still be able to stop the server.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!server_->is_running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

metrics_server::~metrics_server() {
  server_->stop();
  if (thread_.joinable())
    thread_.join();
}

} // namespace pixline
