#pragma once
// SIGINT and SIGTERM for the commands that run for a while (run, watch,
// node).

#include <atomic>
#include <csignal>
#include <functional>
#include <mutex>
#include <thread>

#include <pthread.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

namespace pixline::app {

/// Graceful stop for watch mode: SIGINT/SIGTERM are blocked in every thread
/// and taken by one thread with sigwait. The first stops taking new files and
/// lets those in flight finish; the second exits at once.
class signal_stopper {
public:
  signal_stopper() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGHUP);
    // Before any other thread exists, so they all inherit the mask.
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    std::thread([this] { wait(); }).detach();
  }

  void set(std::function<void()> stop) {
    std::lock_guard<std::mutex> guard{mutex_};
    stop_ = std::move(stop);
  }

  /// Called for SIGHUP (a watch reloads its config); without it SIGHUP is
  /// logged and ignored.
  void on_hangup(std::function<void()> reload) {
    std::lock_guard<std::mutex> guard{mutex_};
    hangup_ = std::move(reload);
  }

  /// Called before the process exits at once (a second signal).
  void on_abort(std::function<void()> cleanup) {
    std::lock_guard<std::mutex> guard{mutex_};
    cleanup_ = std::move(cleanup);
  }

  /// The first signal received, 0 when none.
  int received() const {
    return first_;
  }

private:
  void wait() {
    for (int count = 0;; ++count) {
      int sig = 0;
      if (sigwait(&set_, &sig) != 0)
        return;
      if (sig == SIGHUP) {
        --count; // not a stop
        std::function<void()> reload;
        {
          std::lock_guard<std::mutex> guard{mutex_};
          reload = hangup_;
        }
        if (reload)
          reload();
        else
          spdlog::info("SIGHUP ignored: only a watch reloads its config");
        continue;
      }
      if (count == 0)
        first_ = sig;
      bool can_stop;
      {
        std::lock_guard<std::mutex> guard{mutex_};
        can_stop = bool(stop_);
      }
      if (count > 0 || !can_stop) {
        // Outputs are written atomically: an abort leaves no partial
        // output, only temporary files, removed here (and any a worker
        // makes in the last instant by the next run).
        static const char msg[] = "pixline: exiting now\n";
        [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
        std::function<void()> cleanup;
        {
          std::lock_guard<std::mutex> guard{mutex_};
          cleanup = cleanup_;
        }
        if (cleanup)
          cleanup();
        ::_exit(128 + sig);
      }
      spdlog::warn("{}: finishing the images in flight, then stopping "
                   "(signal again to exit at once)",
                   sig == SIGINT ? "SIGINT" : "SIGTERM");
      std::function<void()> stop;
      {
        std::lock_guard<std::mutex> guard{mutex_};
        stop = stop_;
      }
      if (stop)
        stop();
    }
  }

  sigset_t set_;
  std::atomic<int> first_{0};
  std::mutex mutex_;
  std::function<void()> stop_;
  std::function<void()> cleanup_;
  std::function<void()> hangup_;
};

} // namespace pixline::app
