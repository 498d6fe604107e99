#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "actors/flow/credit.hpp"
#include "config/config.hpp"
#include "actors/run/amqp.hpp"
#include "actors/run/run.hpp"
#include "pipeline/safe_fs.hpp"

namespace pixline {

/// Checks a message's path and that it names a regular file below `root`:
/// relative, no "..", ".", empty or hidden component, no control
/// character, and nothing on the way (folders or the file) a symbolic
/// link (safe_dir: openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS). Returns
/// the file, open read-only: the job reads this very file (job::input_file),
/// never the path again, so a symlink or file swapped in at the path after
/// the check is not read. Throws unsafe_path for a path that could leave
/// `root` or is not a plain file path, std::runtime_error when the file is
/// missing or unreadable.
unique_fd check_queue_path(const safe_dir& root, const std::string& message);

/// What became of a finished job's message.
enum class queue_outcome {
  /// Outputs durable, acknowledged.
  done,
  /// Failed, returned to the queue for another delivery.
  retried,
  /// Failed on its last delivery (or its path is refused): sent to the
  /// dead-letter queue with its last error, then acknowledged.
  quarantined,
};

/// Counts of what a queue worker did.
struct queue_counts_done {
  std::uint64_t done = 0;
  std::uint64_t retried = 0;
  std::uint64_t quarantined = 0;
  /// Acknowledgements sent to the broker.
  std::uint64_t acked = 0;
  /// Times the connection was made again after a loss.
  std::uint64_t reconnects = 0;
};

/// A feed of jobs from a RabbitMQ queue (`[source] kind = "queue"`). One
/// thread owns the broker connection: it consumes with a prefetch window
/// of `prefetch` messages (the source's credit), turns each message into a
/// job for the file it names below `root`, and sends the acknowledgements,
/// returns and dead letters that `finish` decides, each only on the
/// connection the message came on (after a reconnection the broker
/// delivers it again). It reconnects after a loss, with growing pauses.
class queue_feed : public job_feed {
public:
  /// `until_empty`: close once nothing was delivered for `idle` while
  /// nothing is in flight here and the queue has no ready message.
  /// `metrics`: where the messages are counted (`/metrics`), if anywhere.
  queue_feed(const source_section& source, int prefetch, bool until_empty,
             std::chrono::milliseconds idle = std::chrono::seconds(2),
             std::shared_ptr<metrics_registry> metrics = nullptr);
  ~queue_feed() override;

  void start(std::function<void()> wake) override;
  std::optional<job> next() override;
  bool closed() const override;

  /// Decides what becomes of a finished job's message: acknowledged once
  /// the folders of its outputs are flushed (fsync) too, returned for
  /// another delivery, or dead-lettered with its error (then `j.error`
  /// says it was quarantined). Call once per finished job.
  queue_outcome finish(job& j);

  /// Takes no more messages: the consumer is cancelled, messages already
  /// delivered here still run. Safe from any thread.
  void stop();

  /// After the flow ended: sends what is left to send (waiting at most
  /// `grace` for the broker), closes the connection and ends the thread.
  void shutdown(std::chrono::milliseconds grace = std::chrono::seconds(10));

  queue_counts_done counts() const;

  /// Why the feed gave up: the broker refused its first connection (a
  /// wrong password, no such vhost, a queue declared otherwise). Empty
  /// otherwise; a lost connection is only ever tried again.
  std::string refusal() const;

private:
  struct delivery {
    std::uint64_t generation = 0;
    std::uint64_t tag = 0;
    std::string body;
    int deliveries = 1;
    /// The path is refused: dead-lettered at once, never retried.
    bool refused = false;
  };
  struct action {
    enum kind_t { ack, requeue, dead } kind = ack;
    std::uint64_t generation = 0;
    std::uint64_t tag = 0;
    std::string body;
    std::map<std::string, std::string> headers;
    std::vector<std::string> folders;
  };

  void run();
  void serve(amqp_connection& conn, std::uint64_t generation);
  void take(const amqp_delivery& d, std::uint64_t generation);
  void send(amqp_connection& conn, std::uint64_t generation);
  void poke();
  bool idle_and_empty(amqp_connection& conn);
  /// Counts `n` into a queue metric, when there are metrics.
  void count(std::atomic<std::uint64_t> queue_metrics::*counter,
             std::uint64_t n = 1);
  /// Sets the in-flight gauge from what is held here; mutex_ held.
  void publish_in_flight();

  source_section source_;
  amqp_address address_;
  queue_names names_;
  std::filesystem::path root_path_;
  std::optional<safe_dir> root_;
  int prefetch_;
  bool until_empty_;
  std::chrono::milliseconds idle_;
  std::string worker_name_;
  std::shared_ptr<metrics_registry> metrics_;
  queue_metrics* queue_metrics_ = nullptr;

  int event_fd_ = -1;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable flushed_;
  std::function<void()> wake_;
  std::deque<job> ready_;
  std::map<std::uint64_t, delivery> deliveries_;
  std::vector<action> outbox_;
  /// Dead letters published and not yet confirmed: sequence number to the
  /// message's tag, acknowledged when the broker confirms.
  std::map<std::uint64_t, std::uint64_t> unconfirmed_;
  std::uint64_t next_id_ = 1;
  std::uint64_t generation_ = 0;
  bool connected_ = false;
  bool stopping_ = false;
  bool cancelled_ = false;
  bool drained_ = false;
  bool quit_ = false;
  std::string refusal_;
  std::chrono::steady_clock::time_point last_delivery_;
  queue_counts_done counts_;
};

/// Runs the pipeline on a queue source: serves until stopped through
/// `options.on_watching` (or, with `options.until_empty`, until the queue
/// stays empty), acknowledging each message once its outputs are durable.
run_report run_queue(const pipeline_config& config,
                     const stage_registry& registry,
                     const run_options& options);

/// A config with each relative sink path placed below `[source] root`,
/// as a queue worker writes it.
pipeline_config with_outputs_below_root(pipeline_config config);

} // namespace pixline
