#pragma once

#include <memory>
#include <string>
#include <thread>

#include "pipeline/metrics.hpp"

namespace httplib {
class Server;
}

namespace pixline {

/// The HTTP endpoint of a run (docs/operations.md, "Metrics"): `/metrics`
/// renders `metrics` in Prometheus' text format, `/healthz` answers 200 "ok"
/// while the process answers, `/readyz` 200 while a pipeline runs and takes
/// work and 503 otherwise. Serves on its own threads from
/// construction to destruction.
class metrics_server {
public:
  /// Binds `address` at once and starts serving. Throws
  /// std::invalid_argument naming `origin` (where the address came from,
  /// e.g. "--metrics") and the address when it cannot bind.
  metrics_server(const listen_address& address,
                 std::shared_ptr<const metrics_registry> metrics,
                 const std::string& origin);

  /// Stops serving and joins the server's threads.
  ~metrics_server();

  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

private:
  std::shared_ptr<const metrics_registry> metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

} // namespace pixline
