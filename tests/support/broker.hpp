#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "support/images.hpp"

namespace pixline::test {

/// A private RabbitMQ broker for one test: its own node name, free ports
/// (AMQP, Erlang distribution, epmd), data and logs in a temporary folder.
/// Started by the constructor (REQUIREs it is ready), stopped with its
/// epmd (by pid) when the object dies. `restart` stops and starts it on the
/// same ports and data, as an operator's restart would.
class test_broker {
public:
  /// `tls`: also listens with TLS (amqps), with a certificate for
  /// "localhost" signed by a CA of its own (tls_ca()).
  explicit test_broker(bool tls = false);
  ~test_broker();
  test_broker(const test_broker&) = delete;
  test_broker& operator=(const test_broker&) = delete;

  /// amqp://guest:guest@127.0.0.1:PORT/
  std::string url() const;
  int port() const {
    return port_;
  }
  /// amqps://guest:guest@localhost:TLS_PORT/?cacertfile=CA (with `tls`).
  std::string tls_url() const;
  /// The CA that signed the broker's TLS certificate (PEM).
  std::filesystem::path tls_ca() const {
    return dir_ / "tls" / "ca.pem";
  }
  int tls_port() const {
    return tls_port_;
  }
  /// The management API (rabbitmq_management, on its own free port), for
  /// `pixline queue status`'s unacknowledged count.
  std::string management_url() const;

  void stop();
  void start();
  void restart() {
    stop();
    start();
  }

  /// Runs rabbitmqctl against this broker (e.g. "list_queues name
  /// messages_ready messages_unacknowledged"); returns its output.
  std::string ctl(const std::string& args) const;

private:
  std::string env() const;

  std::filesystem::path dir_;
  std::string node_;
  int port_ = 0;
  int dist_port_ = 0;
  int epmd_port_ = 0;
  int management_port_ = 0;
  int tls_port_ = 0;
  std::unique_ptr<child_process> server_;
};

} // namespace pixline::test
