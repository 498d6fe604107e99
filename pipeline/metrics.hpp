#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pixline {

struct job;

/// Counters and gauges of one stage, updated by its dispatcher and workers
/// with relaxed atomics (no locks on the hot path).
struct stage_metrics {
  explicit stage_metrics(std::string label) : name(std::move(label)) {
  }

  /// The `stage` label: the stage's name, with "#2", "#3"... appended when a
  /// chain holds the same stage more than once.
  const std::string name;
  /// Jobs a worker of this stage started on (failed jobs passing through
  /// untouched are not counted).
  std::atomic<std::uint64_t> images_in{0};
  /// Jobs a worker finished without error.
  std::atomic<std::uint64_t> images_out{0};
  /// Jobs that failed in this stage.
  std::atomic<std::uint64_t> images_failed{0};
  /// Jobs a remote worker had when its node was lost (sent again to
  /// another worker, so also counted again in images_in).
  std::atomic<std::uint64_t> images_lost{0};
  /// Bytes of jobs this stage's remote workers sent to their nodes, and of
  /// results they got back (the messages' serialized size).
  std::atomic<std::uint64_t> node_bytes_sent{0};
  std::atomic<std::uint64_t> node_bytes_received{0};
  /// Time workers spent on jobs, in nanoseconds.
  std::atomic<std::uint64_t> busy_ns{0};
  /// Jobs waiting at the stage for an idle worker or downstream credit.
  std::atomic<std::int64_t> queued{0};
  /// Workers busy with a job now.
  std::atomic<std::int64_t> busy_workers{0};
  /// Workers the stage has.
  std::atomic<std::int64_t> workers{0};
  /// Credit this stage granted upstream that no job has used yet.
  std::atomic<std::int64_t> credit_outstanding{0};
};

/// The messages of a queue worker (`[source] kind = "queue"`), counted by
/// its feed with relaxed atomics.
struct queue_metrics {
  /// Deliveries taken from the work queue.
  std::atomic<std::uint64_t> received{0};
  /// Of those, deliveries of a message delivered before (to this worker or
  /// another) without an acknowledgement.
  std::atomic<std::uint64_t> redelivered{0};
  /// Acknowledgements sent: a message done, or dead-lettered and confirmed.
  std::atomic<std::uint64_t> acked{0};
  /// Messages returned to the queue for another delivery (basic.nack).
  std::atomic<std::uint64_t> requeued{0};
  /// Messages the broker confirmed in the dead-letter queue.
  std::atomic<std::uint64_t> dead_lettered{0};
  /// Connections made again after a loss.
  std::atomic<std::uint64_t> reconnects{0};
  /// Messages delivered here and not yet acknowledged or returned.
  std::atomic<std::int64_t> in_flight{0};
};

/// The upper bounds (seconds) of the end-to-end latency histogram.
inline constexpr std::array<double, 14> latency_buckets = {
  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 60};

/// The metrics of a process's pipeline runs, rendered in Prometheus' text
/// format (docs/operations.md lists them). Thread-safe: the transport
/// updates it with atomics while another thread renders it.
class metrics_registry {
public:
  metrics_registry() = default;
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  /// Starts a flow over stages named `names` (in chain order) with the
  /// pipeline-wide budget `max_in_flight`; returns each stage's metrics, in
  /// the same order. A later flow with the same chain reuses the counters,
  /// so they only grow, as Prometheus expects. The pointers stay valid for
  /// the registry's life.
  std::vector<stage_metrics*> begin_flow(const std::vector<std::string>& names,
                                         int max_in_flight);

  /// A job entered the pipeline.
  void admitted();

  /// A job left the pipeline (written, skipped or failed) `latency` after
  /// it was admitted.
  void finished(const job& j, std::chrono::steady_clock::duration latency);

  /// Whether a flow is running.
  void set_running(bool running);
  bool running() const;

  /// Whether the pipeline is stopping (finishing the images in flight for
  /// a reload or a signal): it takes no new work then.
  void set_draining(bool draining);

  /// What `/readyz` reports: a flow runs and takes work.
  bool ready() const;

  /// Watch mode: files found and not yet admitted.
  void set_backlog(std::int64_t files);

  /// A config reload (watch mode: SIGHUP or --watch-config) was applied
  /// (`ok`) or refused.
  void config_reloaded(bool ok);

  /// The queue worker's message counters; from the first call on, they
  /// are rendered too.
  queue_metrics& queue();

  /// Every metric in the Prometheus text exposition format 0.0.4.
  std::string render() const;

private:
  mutable std::mutex stages_mutex_; // guards the vector, not the counters
  std::vector<std::unique_ptr<stage_metrics>> stages_;
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::int64_t> budget_{0};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> skipped_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::array<std::atomic<std::uint64_t>, latency_buckets.size() + 1>
    latency_counts_{};
  std::atomic<std::uint64_t> latency_sum_ns_{0};
  std::atomic<bool> running_{false};
  std::atomic<bool> draining_{false};
  std::atomic<std::uint64_t> bytes_read_{0};
  std::atomic<std::uint64_t> bytes_written_{0};
  std::atomic<std::int64_t> backlog_{0};
  std::atomic<std::uint64_t> reloads_ok_{0};
  std::atomic<std::uint64_t> reloads_failed_{0};
  queue_metrics queue_;
  std::atomic<bool> queue_used_{false};
};

/// The content type of `metrics_registry::render()`'s text.
inline constexpr std::string_view metrics_content_type
  = "text/plain; version=0.0.4; charset=utf-8";

/// A "host:port" to listen on: a host name or IPv4 address, or an IPv6
/// address in brackets ("[::1]:9464"), and a port from 1 to 65535.
struct listen_address {
  std::string host;
  int port = 0;
};

/// Parses a listen address; on error, says what is wrong (without naming
/// where the text came from).
std::variant<listen_address, std::string>
parse_listen_address(std::string_view text);

} // namespace pixline
