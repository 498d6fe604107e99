#include "pipeline/feed.hpp"

#include <utility>

namespace pixline {

list_feed::list_feed(std::vector<job> jobs) : jobs_(std::move(jobs)) {
}

void list_feed::start(std::function<void()> wake) {
  std::lock_guard<std::mutex> guard{mutex_};
  wake_ = std::move(wake);
}

std::optional<job> list_feed::next() {
  if (stopped_ || next_ >= jobs_.size())
    return std::nullopt;
  return std::move(jobs_[next_++]);
}

bool list_feed::closed() const {
  return stopped_ || next_ >= jobs_.size();
}

void list_feed::stop() {
  stopped_ = true;
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    wake = wake_;
  }
  // The flow checks closed() again and ends once the jobs in flight are
  // done.
  if (wake)
    wake();
}

bool list_feed::stopped() const {
  return stopped_;
}

size_t list_feed::left() const {
  return jobs_.size() - next_;
}

} // namespace pixline
