#include "app/reload.hpp"

#include <sys/stat.h>

#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>

#include "actors/run/events.hpp"
#include "pipeline/metrics.hpp"

namespace pixline {

config_reloader::config_reloader(std::string file,
                                 std::function<pipeline_config()> load,
                                 std::shared_ptr<metrics_registry> metrics,
                                 event_log* events)
  : file_(std::move(file)),
    load_(std::move(load)),
    metrics_(std::move(metrics)),
    events_(events) {
}

config_reloader::~config_reloader() {
  {
    std::lock_guard<std::mutex> guard{poll_mutex_};
    poll_quit_ = true;
  }
  poll_wake_.notify_all();
  if (poller_.joinable())
    poller_.join();
}

void config_reloader::set_stop(std::function<void()> stop) {
  bool started = false;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    started = stop && std::exchange(applying_, false);
    stop_ = std::move(stop);
  }
  // The new pipeline runs: only now is the reload applied.
  if (started)
    count(true, {});
}

void config_reloader::count(bool ok, const std::string& error) {
  if (metrics_)
    metrics_->config_reloaded(ok);
  if (events_)
    events_->reloaded(file_, error);
}

void config_reloader::request(const std::string& why) {
  spdlog::info("{}: reading {} again", why, file_);
  pipeline_config next;
  try {
    next = load_();
  } catch (const std::exception& e) {
    // config_error's what() has file:line:col.
    spdlog::error("config reload refused, the running pipeline goes on: {}",
                  e.what());
    count(false, e.what());
    return;
  }
  std::function<void()> stop;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    pending_ = std::move(next);
    stop = stop_;
  }
  spdlog::info("config reload: finishing the images in flight under the old "
               "pipeline, then starting the new one");
  if (metrics_)
    metrics_->set_draining(true);
  if (stop)
    stop();
}

std::optional<pipeline_config> config_reloader::take() {
  std::lock_guard<std::mutex> guard{mutex_};
  auto next = std::move(pending_);
  pending_.reset();
  applying_ = next.has_value();
  return next;
}

void config_reloader::refused(const std::string& error) {
  spdlog::error("config reload refused, going back to the previous "
                "pipeline: {}",
                error);
  {
    std::lock_guard<std::mutex> guard{mutex_};
    applying_ = false;
  }
  count(false, error);
}

namespace {

/// What tells a changed file: inode, size and modification time.
struct file_state {
  ino_t inode = 0;
  off_t size = -1;
  long long mtime_ns = -1;
  bool operator==(const file_state&) const = default;
};

file_state state_of(const std::string& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0)
    return {};
  return {st.st_ino, st.st_size,
          (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec};
}

} // namespace

void config_reloader::watch_file(std::chrono::milliseconds period) {
  poller_ = std::thread([this, period] {
    auto seen = state_of(file_);
    std::unique_lock<std::mutex> lock{poll_mutex_};
    while (!poll_wake_.wait_for(lock, period, [this] { return poll_quit_; })) {
      auto now = state_of(file_);
      if (now == seen || now.size < 0)
        continue; // unchanged, or gone for a moment (an editor's rename)
      // Wait until the writer is done: the same state twice in a row.
      if (poll_wake_.wait_for(lock, period, [this] { return poll_quit_; }))
        return;
      if (!(state_of(file_) == now))
        continue;
      seen = now;
      lock.unlock();
      request("the config file changed");
      lock.lock();
    }
  });
}

} // namespace pixline
