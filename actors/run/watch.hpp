#pragma once

#include <chrono>
#include <condition_variable>
#include <atomic>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "pipeline/feed.hpp"
#include "config/config.hpp"
#include "actors/run/inputs.hpp"
#include "pipeline/journal.hpp"
#include "pipeline/safe_fs.hpp"

namespace pixline {

class output_claims;

/// Counts of what a watch did.
struct watch_counts {
  std::uint64_t done = 0;
  std::uint64_t failed = 0;
  std::uint64_t skipped_known = 0;
  std::uint64_t retried = 0;
};

/// A feed of files landing in a folder: the files already there at start,
/// then each new one once it is complete (closed after writing or renamed
/// in, and unchanged for the settle time). Uses Linux inotify, watches new
/// sub-folders as they appear, and rescans after an inotify queue overflow.
/// Every version of a file is handed out once: the journal records it when
/// it is finished, before the original is moved or deleted.
class watch_feed : public job_feed {
public:
  /// `output_root` is skipped when it lies inside the watched folder.
  watch_feed(const source_section& source, std::filesystem::path output_root);
  ~watch_feed() override;

  void start(std::function<void()> wake) override;
  std::optional<job> next() override;
  bool closed() const override;

  /// Records a finished job in the journal and applies on_success /
  /// on_failure. Call for every finished job, from one thread. Returns false
  /// when the job failed transiently and will be tried again.
  bool finish(const job& j);

  /// Stops taking files: what is queued is dropped (it stays in the folder
  /// and is taken on the next start), what is in flight finishes.
  void stop();

  /// Files queued and not yet handed out.
  std::size_t queued() const;

  /// Called with the backlog (files settling plus files queued) whenever
  /// it changes, from the feed's threads; for the metrics' gauge.
  void on_backlog(std::function<void(std::int64_t)> report);

  watch_counts counts() const;

  /// The table of output names for the watch's pipeline: a name this run
  /// has not given is asked of the journal (whose output is it, and is it
  /// still there), so on_collision holds across restarts; a name leaves
  /// the table once its output is in the journal (finish()), so the table
  /// holds only the names of images in flight.
  std::shared_ptr<output_claims> claims() const {
    return claims_;
  }

  /// Why the journal could not be written, when that stopped the watch;
  /// empty otherwise.
  std::string journal_error() const;

private:
  struct candidate {
    std::chrono::steady_clock::time_point last_activity;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    bool writing = false;
  };

  void run();
  void scan(const std::filesystem::path& dir, bool recursive);
  void add_watch(const std::filesystem::path& dir);
  void note(const std::filesystem::path& path, bool closed_now);
  void settle_ready(std::chrono::steady_clock::time_point now);
  void take(const std::filesystem::path& path);
  bool wanted(const std::filesystem::path& path) const;
  /// The output and state folders, when inside the watched folder.
  bool excluded(const std::filesystem::path& path) const;
  /// Moves or deletes the original of the done version `key`, once its
  /// recorded outputs are checked on the disk. Returns false (and leaves
  /// it, saying so; `again`: saying it is processed again) when they are
  /// not what the journal says.
  bool after_success(const file_key& key, const std::string& relative,
                     bool again);
  void after_failure(const job& j);
  /// Runs a journal write; when it throws (a full or failing disk), logs
  /// it, keeps the reason for journal_error() and stops the watch. Returns
  /// whether it was written.
  bool write_journal(const std::function<void()>& write);
  void notify();

  source_section source_;
  std::filesystem::path root_;
  std::filesystem::path output_root_;
  std::filesystem::path state_root_;
  name_filter filter_;
  std::chrono::milliseconds settle_;
  std::unique_ptr<folder_lock> state_lock_;
  std::shared_ptr<journal> journal_;
  std::shared_ptr<output_claims> claims_;

  int inotify_fd_ = -1;
  int stop_fd_ = -1;
  int retry_fd_ = -1;
  std::unordered_map<int, std::filesystem::path> watches_;
  std::map<std::filesystem::path, candidate> candidates_;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::deque<job> ready_;
  std::function<void(std::int64_t)> on_backlog_;
  std::atomic<std::size_t> settling_{0};
  /// Reports the backlog; mutex_ held.
  void publish_backlog();
  std::set<std::string> queued_or_running_;
  std::unordered_map<std::uint64_t, file_key> keys_;
  /// File versions this run recorded as started (journal::started), once
  /// each however often a transient failure has them taken again.
  std::set<std::pair<std::string, std::uint64_t>> started_;
  std::unordered_map<std::string, int> attempts_;
  std::deque<std::pair<std::string, std::chrono::steady_clock::time_point>>
    retry_;
  std::function<void()> wake_;
  std::uint64_t next_id_ = 1;
  bool stopping_ = false;
  std::string journal_error_;
  watch_counts counts_;
};

} // namespace pixline
