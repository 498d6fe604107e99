#pragma once

#include <cstdio>
#include <mutex>
#include <optional>
#include <string>

#include "pipeline/job.hpp"
#include "actors/run/run.hpp"

namespace pixline {

/// Writes one JSON object per line for other programs to follow (`--events
/// FILE` or `-` for stdout): started, written, skipped, failed, finished.
/// Each line is flushed as it is written. Thread-safe.
class event_log {
public:
  /// Opens `target` for appending ("-" is stdout). Throws
  /// std::runtime_error naming the file when it cannot be opened.
  explicit event_log(const std::string& target);
  ~event_log();

  event_log(const event_log&) = delete;
  event_log& operator=(const event_log&) = delete;

  /// The run started: `total` is the number of inputs when known (a
  /// batch, once they are listed; a watch's inputs keep coming).
  void started(const std::string& pipeline, const std::string& mode,
               int max_in_flight,
               std::optional<std::size_t> total = std::nullopt);

  /// One finished job: written, skipped or failed. `quarantined` marks a
  /// failed file a watch moved to its quarantine folder.
  void finished_job(const job& j, bool quarantined = false);

  void finished(const run_report& report, double seconds);

  /// A watch re-read its config (SIGHUP or --watch-config): applied, or
  /// refused with `error` (the old pipeline keeps running).
  void reloaded(const std::string& file, const std::string& error);

private:
  void write(const std::string& line);

  std::FILE* out_ = nullptr;
  bool owned_ = false;
  std::mutex mutex_;
};

} // namespace pixline
