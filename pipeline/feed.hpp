#pragma once
// Where a flow's jobs come from. Plain C++: the runtime pulls jobs from a
// feed (actors/flow/credit.hpp); a batch's list and a watched folder
// (actors/run/watch.hpp) are feeds.

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "pipeline/job.hpp"

namespace pixline {

/// Where a flow's jobs come from: a fixed list (a batch) or files that keep
/// arriving (watch mode). Jobs wait here as paths, not images: the flow pulls
/// one only when the pipeline has room for it.
class job_feed {
public:
  virtual ~job_feed() = default;

  /// Called once before the first `next`. Calling `wake` (from any thread)
  /// makes the flow ask for jobs again and check whether the feed closed.
  virtual void start(std::function<void()> wake) {
    (void) wake;
  }

  /// The next job if one is ready now.
  virtual std::optional<job> next() = 0;

  /// True once no job will ever come again.
  virtual bool closed() const = 0;
};

/// A feed of a fixed list of jobs, closed once the list is taken or once
/// stopped.
class list_feed : public job_feed {
public:
  explicit list_feed(std::vector<job> jobs);

  void start(std::function<void()> wake) override;

  std::optional<job> next() override;

  bool closed() const override;

  /// Takes no more jobs: those admitted finish, the rest never start (a
  /// batch's first Ctrl-C). Safe to call from any thread, any number of
  /// times.
  void stop();

  /// True once stop() was called.
  bool stopped() const;

  /// Jobs never handed out.
  size_t left() const;

private:
  std::vector<job> jobs_;
  size_t next_ = 0;
  std::atomic<bool> stopped_{false};
  std::mutex mutex_;
  std::function<void()> wake_;
};

} // namespace pixline
