#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"

// rabbitmq-c's connection handle, kept out of pixline's headers.
struct amqp_connection_state_t_;

namespace pixline {

/// A failure talking to the broker: refused, lost, closed by it, or an
/// answer pixline did not expect. The text names the broker and the cause.
class amqp_error : public std::runtime_error {
public:
  /// `transient`: the connection failed or was lost (worth trying again);
  /// false when the broker refused (login, permissions, a queue declared
  /// with other settings), which trying again will not change.
  explicit amqp_error(const std::string& what, bool transient = true)
    : std::runtime_error(what), transient_(transient) {
  }

  bool transient() const {
    return transient_;
  }

private:
  bool transient_;
};

/// Where and as whom to connect: `[source] url`, with the password from
/// the environment variable `password_env` when it is set there.
struct amqp_address {
  std::string host = "localhost";
  int port = 5672;
  std::string user = "guest";
  std::string password = "guest";
  std::string vhost = "/";
  /// amqps://: TLS, the broker's certificate verified (against `ca_file`,
  /// else the system's CAs) and its name checked against `host`.
  bool tls = false;
  std::string ca_file;
  /// A client certificate and its key (PEM files), when the broker asks.
  std::string cert_file;
  std::string key_file;
  /// "amqp://USER@HOST:PORT/VHOST", never the password, for messages.
  std::string shown;
};

/// Parses `amqp://USER:PASS@HOST:PORT/VHOST` or `amqps://...` (rabbitmq-c's
/// amqp_parse_url; amqps' port defaults to 5671), with RabbitMQ's URI query
/// parameters for TLS: `?cacertfile=CA.pem` (the CA that signs the
/// broker's certificate; the system's CAs without it) and
/// `certfile=...&keyfile=...` (a client certificate). The password comes
/// from `password_env` when that variable is set and not empty. An empty
/// vhost ("amqp://host/") is the default vhost "/", as most clients take
/// it.
/// Throws std::invalid_argument naming what is wrong.
amqp_address parse_amqp_url(const std::string& url,
                            const std::string& password_env);

/// The queue topology pixline uses: the work queue, a quorum queue whose
/// messages are dead-lettered (to `dead`) after `max_deliveries`
/// deliveries that ended without an acknowledgement, and `dead` itself.
struct queue_names {
  std::string work;
  std::string dead;
  int max_deliveries = 3;
};

queue_names queue_names_of(const source_section& source);

/// Counts the broker gives for a queue (queue.declare, passive).
struct queue_counts {
  std::uint64_t ready = 0;
  std::uint64_t consumers = 0;
};

/// A message taken from a queue.
struct amqp_delivery {
  std::uint64_t tag = 0;
  std::string body;
  /// Times the broker delivered it before without an acknowledgement
  /// (its x-delivery-count header; 0 on the first delivery).
  int delivery_count = 0;
  bool redelivered = false;
  /// String headers (x-pixline-error...), for dead-lettered messages.
  std::map<std::string, std::string> headers;
};

/// One connection with one channel, on one thread (rabbitmq-c connections
/// are not thread-safe). Closed when destroyed.
class amqp_connection {
public:
  /// Connects and logs in; `heartbeat` seconds between heartbeats (0: off).
  /// Throws amqp_error.
  amqp_connection(const amqp_address& address, int heartbeat = 10);
  ~amqp_connection();
  amqp_connection(const amqp_connection&) = delete;
  amqp_connection& operator=(const amqp_connection&) = delete;

  /// Declares the dead-letter queue and the work queue (durable quorum
  /// queues; the work queue with x-delivery-limit and the dead-letter
  /// routing). A queue declared before with other arguments is the
  /// broker's error, reported as such.
  void declare(const queue_names& names);

  /// The counts of `queue`; nothing when it does not exist (the channel
  /// is opened again after the broker's refusal).
  std::optional<queue_counts> counts(const std::string& queue);

  /// Puts the channel into confirm mode (publisher confirms).
  void confirm_select();

  /// basic.qos with `prefetch` unacknowledged messages at most.
  void qos(int prefetch);

  /// basic.consume on `queue` with acknowledgements.
  void consume(const std::string& queue);

  /// Cancels the consumer: no delivery comes after this returns.
  void cancel();

  /// Publishes a persistent message to `queue` through the default
  /// exchange, mandatory (an unroutable one comes back). With confirms,
  /// returns its sequence number.
  std::uint64_t publish(const std::string& queue, const std::string& body,
                        const std::map<std::string, std::string>& headers
                        = {});

  void ack(std::uint64_t tag);
  /// Returns a message to its queue (counted as a delivery by the broker).
  void nack_requeue(std::uint64_t tag);

  /// basic.get with acknowledgement, for reading dead-lettered messages;
  /// nothing when the queue is empty.
  std::optional<amqp_delivery> get(const std::string& queue);

  /// What `wait` found.
  struct event {
    enum kind_t { none, delivery, confirm_ack, confirm_nack, returned } kind
      = none;
    amqp_delivery message;
    /// confirm_ack / confirm_nack: the sequence number and whether it
    /// covers every earlier one too.
    std::uint64_t seq = 0;
    bool multiple = false;
  };

  /// Waits at most `timeout` for a delivery, a confirm or a returned
  /// message; `none` when nothing came. Services heartbeats. Throws
  /// amqp_error when the channel or connection is closed or lost.
  event wait(std::chrono::milliseconds timeout);

  /// The socket, to poll it beside other descriptors; and whether frames
  /// are already buffered (then `wait` must be called without polling).
  int fd() const;
  bool buffered() const;

  const amqp_address& address() const {
    return address_;
  }

private:
  void check_rpc(const char* what);
  void reopen_channel();

  amqp_address address_;
  amqp_connection_state_t_* conn_ = nullptr;
  std::string consumer_tag_;
  std::uint64_t next_seq_ = 1;
  bool confirming_ = false;
};

} // namespace pixline
