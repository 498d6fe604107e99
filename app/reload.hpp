#pragma once

/// Reloading a watch's config (docs/watch.md, "Reloading the config"):
/// SIGHUP or `--watch-config` re-reads and checks the config; a valid one
/// replaces the running pipeline once the images in flight have finished
/// under the old one, an invalid one is logged and the old pipeline keeps
/// running.

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "config/config.hpp"

namespace pixline {

class event_log;
class metrics_registry;

class config_reloader {
public:
  /// `load` reads and checks the config again (throws config_error, or
  /// std::invalid_argument for a command-line conflict); `stop` stops the
  /// running watch gracefully.
  config_reloader(std::string file,
                  std::function<pipeline_config()> load,
                  std::shared_ptr<metrics_registry> metrics,
                  event_log* events);
  ~config_reloader();
  config_reloader(const config_reloader&) = delete;
  config_reloader& operator=(const config_reloader&) = delete;

  /// The function that stops the running watch (from run_options'
  /// on_watching); empty while none runs.
  void set_stop(std::function<void()> stop);

  /// Re-reads the config because of `why` ("SIGHUP", "the config file
  /// changed"): when it is valid, keeps it and stops the running watch so
  /// that the caller starts the new one; else logs the error. Safe from any
  /// thread.
  void request(const std::string& why);

  /// The new config a reload left, once the watch it stopped has returned;
  /// counted as applied once its pipeline starts (set_stop).
  std::optional<pipeline_config> take();

  /// A new pipeline failed to start (an error found only when its stages
  /// were built): counted and logged like an invalid config; the caller
  /// goes back to the old one.
  void refused(const std::string& error);

  /// Polls the config file (every `period`) and requests a reload when it
  /// changes (its contents, size, time or inode: editors that write a new
  /// file and rename it over the old are seen too).
  void watch_file(std::chrono::milliseconds period);

private:
  void count(bool ok, const std::string& error);

  std::string file_;
  std::function<pipeline_config()> load_;
  std::shared_ptr<metrics_registry> metrics_;
  event_log* events_;

  std::mutex mutex_;
  std::function<void()> stop_;
  std::optional<pipeline_config> pending_;
  /// A config taken by take() whose pipeline has not started yet: counted
  /// as applied when it starts (set_stop), as refused if it cannot.
  bool applying_ = false;

  std::mutex poll_mutex_;
  std::condition_variable poll_wake_;
  bool poll_quit_ = false;
  std::thread poller_;
};

} // namespace pixline
