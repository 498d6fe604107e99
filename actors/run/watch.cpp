#include "actors/run/watch.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "actors/io/writer.hpp"
#include "pipeline/safe_fs.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace pixline {

namespace {

constexpr uint32_t dir_mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE
                              | IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF
                              | IN_ONLYDIR;

std::optional<std::pair<std::uint64_t, std::int64_t>>
size_and_mtime(const fs::path& p) {
  struct stat st;
  if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return std::nullopt;
  return std::make_pair(std::uint64_t(st.st_size),
                        std::int64_t(st.st_mtim.tv_sec) * 1000000000LL
                          + st.st_mtim.tv_nsec);
}

/// An output that could not be written for lack of space: it may fit
/// later, so it is never a final failure.
bool out_of_space(const job& j) {
  return j.failed() && j.error.find(std::strerror(ENOSPC)) != std::string::npos;
}

/// Errors that may go away on their own: the file vanished for a moment, is
/// not readable yet, or is still empty; or the disk was full.
bool transient(const job& j) {
  if (out_of_space(j))
    return true;
  if (j.failed_stage != "load")
    return false;
  return j.error.rfind("cannot open", 0) == 0
         || j.error.rfind("cannot read", 0) == 0
         || j.error.rfind("empty file", 0) == 0;
}

/// Moves `from` into the folder `root` / `relative`'s folder (created,
/// never through a symlink) under its own name, or the first free version
/// of it (photo.1.jpg...) when `also_free` allows; nothing is replaced.
/// Returns the folder and the name used.
std::pair<safe_dir, std::string>
move_keeping_versions(const fs::path& from, const fs::path& root,
                      const fs::path& relative,
                      bool (*also_free)(const safe_dir&, const std::string&)
                      = nullptr) {
  auto dir = *safe_dir::open_root(root, true)
                .open_below(relative.parent_path(), true);
  auto name = move_keeping_all(from, dir, relative.filename().string(),
                               also_free);
  return {std::move(dir), std::move(name)};
}

/// A quarantined file's reason is beside it: `x.jpg.error.txt`.
std::string sidecar_of(const std::string& name) {
  return name + ".error.txt";
}

bool inside(const fs::path& path, const fs::path& root) {
  if (root.empty())
    return false;
  auto rel = path.lexically_relative(root);
  return !rel.empty() && *rel.begin() != "..";
}

} // namespace

watch_feed::watch_feed(const source_section& source, fs::path output_root)
  : source_(source),
    root_(fs::weakly_canonical(source.path)),
    filter_(source),
    settle_(source.settle_ms) {
  std::error_code ec;
  if (!fs::is_directory(root_, ec))
    throw config_error(source.where,
                       fmt::format("watched folder {} does not exist or is "
                                   "not a folder",
                                   source.path));
  output_root_ = fs::weakly_canonical(output_root, ec);
  fs::path state = source.state_dir.empty() ? root_ / ".pixline"
                                            : fs::path(source.state_dir);
  // One watch per state folder: a second one would append to (and
  // compact) the journal under the first one's feet. Locked before the
  // journal is read; created private, as the journal wants it.
  fs::create_directories(state.parent_path().empty() ? fs::path(".")
                                                     : state.parent_path(),
                         ec);
  ::mkdir(state.c_str(), 0700);
  state_lock_ = std::make_unique<folder_lock>(
    folder_lock::take(state, "state folder", false));
  try {
    journal_ = std::make_shared<journal>(state);
    journal_->mark_crashes();
    claims_ = std::make_shared<output_claims>(
      [weak = std::weak_ptr<journal>(journal_)](const std::string& output,
                                                const std::string& input)
        -> std::optional<std::string> {
        auto j = weak.lock();
        return j ? j->owner_of(output, input) : std::nullopt;
      });
  } catch (const untrusted_journal& e) {
    throw config_error(source.where, e.what());
  }
  state_root_ = fs::weakly_canonical(state, ec);
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  retry_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_fd_ < 0 || stop_fd_ < 0 || retry_fd_ < 0)
    throw std::runtime_error(
      fmt::format("inotify is not available: {}", std::strerror(errno)));
}

watch_feed::~watch_feed() {
  stop();
  if (thread_.joinable())
    thread_.join();
  if (inotify_fd_ >= 0)
    ::close(inotify_fd_);
  if (stop_fd_ >= 0)
    ::close(stop_fd_);
  if (retry_fd_ >= 0)
    ::close(retry_fd_);
}

void watch_feed::start(std::function<void()> wake) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    wake_ = std::move(wake);
  }
  // Watch first, then scan: a file landing in between is seen twice at
  // worst, and taken once.
  add_watch(root_);
  scan(root_, source_.recursive);
  thread_ = std::thread([this] { run(); });
}

bool watch_feed::excluded(const fs::path& path) const {
  return inside(path, output_root_) || inside(path, state_root_)
         || path == output_root_ || path == state_root_;
}

bool watch_feed::wanted(const fs::path& path) const {
  auto rel = path.lexically_relative(root_);
  if (rel.empty() || *rel.begin() == ".." || is_hidden(rel))
    return false;
  if (excluded(path))
    return false;
  if (!source_.recursive && rel.has_parent_path()
      && rel.parent_path() != ".")
    return false;
  if (!filter_.accepts(rel))
    return false;
  // As a batch's folder: without include, only files libvips reads by
  // name; a readme dropped in is neither processed nor quarantined.
  if (source_.include.empty() && !has_image_suffix(rel)) {
    spdlog::debug("{}: skipped: not an image (set include to take it)",
                  path.string());
    return false;
  }
  return true;
}

void watch_feed::add_watch(const fs::path& dir) {
  int wd = ::inotify_add_watch(inotify_fd_, dir.c_str(), dir_mask);
  if (wd < 0) {
    spdlog::warn("cannot watch {}: {}", dir.string(), std::strerror(errno));
    return;
  }
  watches_[wd] = dir;
}

void watch_feed::scan(const fs::path& dir, bool recursive) {
  std::error_code ec;
  auto opts = fs::directory_options::skip_permission_denied;
  for (auto it = fs::directory_iterator(dir, opts, ec);
       it != fs::directory_iterator(); it.increment(ec)) {
    if (ec)
      break;
    auto& p = it->path();
    auto rel = p.lexically_relative(root_);
    if (is_hidden(rel) || excluded(p))
      continue;
    if (it->is_directory(ec)) {
      if (recursive) {
        add_watch(p);
        scan(p, true);
      }
    } else if (it->is_regular_file(ec) && wanted(p)) {
      // Found by a scan, not an event: take it once it has been still for
      // the settle time.
      note(p, false);
    }
  }
}

void watch_feed::note(const fs::path& path, bool closed_now) {
  auto now = clock_type::now();
  auto& c = candidates_[path];
  if (settling_.exchange(candidates_.size()) != candidates_.size()) {
    std::lock_guard<std::mutex> guard{mutex_};
    publish_backlog();
  }
  c.last_activity = now;
  if (auto st = size_and_mtime(path)) {
    c.size = st->first;
    c.mtime_ns = st->second;
  }
  c.writing = !closed_now && c.writing;
}

void watch_feed::settle_ready(clock_type::time_point now) {
  for (auto it = candidates_.begin(); it != candidates_.end();) {
    auto& [path, c] = *it;
    if (c.writing || now - c.last_activity < settle_) {
      ++it;
      continue;
    }
    auto st = size_and_mtime(path);
    if (!st) { // gone, or not a file any more
      it = candidates_.erase(it);
      continue;
    }
    if (st->first != c.size || st->second != c.mtime_ns) {
      c.size = st->first;
      c.mtime_ns = st->second;
      c.last_activity = now;
      ++it;
      continue;
    }
    auto p = path;
    it = candidates_.erase(it);
    take(p);
  }
}

void watch_feed::take(const fs::path& path) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (stopping_ || queued_or_running_.count(path.string()) > 0)
      return;
  }
  auto key = key_of(path);
  if (!key)
    return;
  if (auto outcome = journal_->lookup(*key)) {
    // Finished before (perhaps just before a crash): only what comes after
    // success may still be owed. Outputs that are not what the journal
    // says (deleted, replaced, or a stale or forged entry) do not let the
    // original go: it is processed again.
    bool owed = true;
    if (*outcome == journal_outcome::done)
      owed = after_success(
        *key, path.lexically_relative(root_).generic_string(), true);
    if (owed) {
      std::lock_guard<std::mutex> guard{mutex_};
      ++counts_.skipped_known;
      return;
    }
  }
  job j;
  j.path = path.string();
  j.relative = path.lexically_relative(root_).generic_string();
  // In flight when pixline itself crashed, twice: something in this file
  // takes pixline down (with isolation = "thread", or a bug of pixline's
  // own). It fails now, and is quarantined if so configured, instead of
  // being tried at every start for ever.
  if (int crashes = journal_->crashed_with(*key); crashes >= 2) {
    j.error = fmt::format("was being worked on when pixline crashed, {} "
                          "times; not tried again",
                          crashes);
    j.failed_stage = "load";
  }
  {
    std::lock_guard<std::mutex> guard{mutex_};
    j.id = next_id_++;
    keys_[j.id] = *key;
    queued_or_running_.insert(j.path);
    ready_.push_back(std::move(j));
    settling_ = candidates_.size();
    publish_backlog();
  }
  notify();
}

void watch_feed::notify() {
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    wake = wake_;
  }
  if (wake)
    wake();
}

void watch_feed::run() {
  std::vector<char> buf(64 * 1024);
  for (;;) {
    // Sleep until an event, a stop, or the next settle deadline.
    int timeout = -1;
    auto now = clock_type::now();
    for (auto& [path, c] : candidates_) {
      if (c.writing)
        continue;
      auto due = c.last_activity + settle_;
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(due - now)
                  .count()
                + 1;
      ms = std::max<long>(ms, 0);
      timeout = timeout < 0 ? int(ms) : std::min(timeout, int(ms));
    }
    std::vector<std::string> due_now;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      for (auto it = retry_.begin(); it != retry_.end();) {
        if (it->second <= now) {
          due_now.push_back(it->first);
          it = retry_.erase(it);
        } else {
          auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      it->second - now)
                      .count()
                    + 1;
          timeout = timeout < 0 ? int(ms) : std::min(timeout, int(ms));
          ++it;
        }
      }
    }
    for (auto& p : due_now)
      take(p);
    pollfd fds[3] = {{inotify_fd_, POLLIN, 0},
                     {stop_fd_, POLLIN, 0},
                     {retry_fd_, POLLIN, 0}};
    int n = ::poll(fds, 3, due_now.empty() ? timeout : 0);
    if (fds[2].revents & POLLIN) {
      std::uint64_t count;
      [[maybe_unused]] auto r = ::read(retry_fd_, &count, sizeof count);
    }
    if (n < 0 && errno != EINTR) {
      spdlog::error("watch: poll failed: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents & POLLIN)
      return;
    if (n > 0 && (fds[0].revents & POLLIN)) {
      for (;;) {
        auto len = ::read(inotify_fd_, buf.data(), buf.size());
        if (len <= 0)
          break;
        for (char* p = buf.data(); p < buf.data() + len;) {
          auto* ev = reinterpret_cast<inotify_event*>(p);
          p += sizeof(inotify_event) + ev->len;
          if (ev->mask & IN_Q_OVERFLOW) {
            spdlog::warn("watch: inotify queue overflowed; rescanning {}",
                         root_.string());
            scan(root_, source_.recursive);
            continue;
          }
          auto dir = watches_.find(ev->wd);
          if (dir == watches_.end() || ev->len == 0)
            continue;
          fs::path path = dir->second / ev->name;
          if (ev->mask & IN_ISDIR) {
            if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && source_.recursive
                && !is_hidden(path.lexically_relative(root_))
                && !excluded(path)) {
              add_watch(path);
              scan(path, true);
            }
            continue;
          }
          if (!wanted(path))
            continue;
          if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
            note(path, true);
          } else if (ev->mask & (IN_CREATE | IN_MODIFY)) {
            note(path, false);
            candidates_[path].writing = true;
          }
        }
      }
    }
    settle_ready(clock_type::now());
  }
}

std::optional<job> watch_feed::next() {
  std::lock_guard<std::mutex> guard{mutex_};
  if (ready_.empty())
    return std::nullopt;
  auto j = std::move(ready_.front());
  ready_.pop_front();
  publish_backlog();
  // The journal says which files were in flight, should pixline end
  // abnormally (take() counts those).
  if (auto key = keys_.find(j.id); key != keys_.end() && !j.failed()
                                   && started_.emplace(key->second.path,
                                                       key->second.hash)
                                        .second) {
    try {
      journal_->started(key->second);
    } catch (const std::exception& e) {
      spdlog::debug("{}", e.what()); // a failing journal stops the watch at
                                     // the outcome, which is synced
    }
  }
  return j;
}

bool watch_feed::closed() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return stopping_;
}

void watch_feed::on_backlog(std::function<void(std::int64_t)> report) {
  std::lock_guard<std::mutex> guard{mutex_};
  on_backlog_ = std::move(report);
}

void watch_feed::publish_backlog() {
  if (on_backlog_)
    on_backlog_(std::int64_t(ready_.size() + settling_.load()));
}

std::size_t watch_feed::queued() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return ready_.size();
}

watch_counts watch_feed::counts() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return counts_;
}

void watch_feed::stop() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (stopping_)
      return;
    stopping_ = true;
    for (auto& j : ready_) {
      queued_or_running_.erase(j.path);
      keys_.erase(j.id);
    }
    ready_.clear();
  }
  if (stop_fd_ >= 0) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
  }
  notify();
}

bool watch_feed::after_success(const file_key& key,
                               const std::string& relative, bool again) {
  const auto& path = key.path;
  if (source_.on_success != "delete" && source_.on_success != "move")
    return true;
  if (auto wrong = journal_->check_outputs(key); !wrong.empty()) {
    spdlog::warn("{}: not {} it: {}; {}", path,
                 source_.on_success == "delete" ? "deleting" : "moving",
                 wrong, again ? "processing it again" : "it stays where it is");
    return false;
  }
  std::error_code ec;
  if (source_.on_success == "delete") {
    fs::remove(path, ec);
  } else {
    try {
      move_keeping_versions(path, source_.done_dir, relative);
    } catch (const std::exception& e) {
      spdlog::error("{}: written, but cannot move the original to {}: {}",
                    path, source_.done_dir, e.what());
      return true;
    }
  }
  write_journal([&] { journal_->forget(path); });
  return true;
}

void watch_feed::after_failure(const job& j) {
  if (source_.on_failure != "quarantine")
    return;
  try {
    // A version whose reason could not be written beside it is no use.
    auto [dir, name] = move_keeping_versions(
      j.path, source_.quarantine_dir, j.relative,
      [](const safe_dir& d, const std::string& n) {
        return !d.has(sidecar_of(n));
      });
    write_new_file(dir, sidecar_of(name),
                   fmt::format("file: {}\nstage: {}\nerror: {}\ntime: "
                               "{:%FT%T}Z\n",
                               j.path, j.failed_stage, j.error,
                               fmt::gmtime(std::time(nullptr))));
  } catch (const std::exception& e) {
    spdlog::error("{}: failed, and cannot move it to quarantine {}: {}",
                  j.path, source_.quarantine_dir, e.what());
    return;
  }
  write_journal([&] { journal_->forget(j.path); });
}

bool watch_feed::write_journal(const std::function<void()>& write) {
  try {
    write();
    return true;
  } catch (const std::exception& e) {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      if (journal_error_.empty())
        journal_error_ = e.what();
    }
    spdlog::error("{}; stopping the watch (no original is moved or deleted "
                  "before its line is in the journal)",
                  e.what());
    stop();
    return false;
  }
}

std::string watch_feed::journal_error() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return journal_error_;
}

bool watch_feed::finish(const job& j) {
  file_key key;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    auto it = keys_.find(j.id);
    if (it == keys_.end())
      return true;
    key = it->second;
    keys_.erase(it);
    queued_or_running_.erase(j.path);
  }
  if (j.failed() && transient(j)) {
    int attempt;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      attempt = ++attempts_[j.path];
    }
    if (attempt <= source_.retries) {
      // Try again after a pause; a retry is a new event for the watcher.
      std::lock_guard<std::mutex> guard{mutex_};
      ++counts_.retried;
      retry_.emplace_back(j.path, clock_type::now()
                                    + std::chrono::milliseconds(200 * attempt));
      std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(retry_fd_, &one, sizeof one);
      return false;
    }
  }
  {
    std::lock_guard<std::mutex> guard{mutex_};
    attempts_.erase(j.path);
    started_.erase({key.path, key.hash});
  }
  if (out_of_space(j)) {
    // Not recorded and not quarantined: the next start tries it again.
    spdlog::warn("{}: no space left for its outputs; it stays where it is "
                 "and is tried again on the next start",
                 j.path);
    std::lock_guard<std::mutex> guard{mutex_};
    ++counts_.failed;
    return true;
  }
  auto outcome = j.failed() ? journal_outcome::failed : journal_outcome::done;
  // Each output as it is on the disk now, so a restart knows whose name it
  // is and can check it before the original goes.
  std::vector<output_key> outputs;
  for (auto& out : j.outputs)
    if (auto k = output_key_of(out))
      outputs.push_back(std::move(*k));
  if (!write_journal([&] { journal_->record(key, outcome, outputs); }))
    return true;
  // The journal answers for these names from now on.
  for (auto& out : j.outputs)
    claims_->settle(out, j.path);
  if (j.failed()) {
    after_failure(j);
    std::lock_guard<std::mutex> guard{mutex_};
    ++counts_.failed;
  } else {
    after_success(key, j.relative, false);
    std::lock_guard<std::mutex> guard{mutex_};
    ++counts_.done;
  }
  return true;
}

} // namespace pixline
