#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace pixline {

/// What identifies one version of an input file: where it is, how big, when
/// last changed, and a hash of its bytes (so a file replaced by another of
/// the same size and time, e.g. `cp -p`, is still seen as new).
struct file_key {
  std::string path;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t hash = 0;

  bool operator==(const file_key&) const = default;
};

/// Reads `path` and returns its key; nothing if the file cannot be read.
std::optional<file_key> key_of(const std::filesystem::path& path);

/// Thrown when the state folder or the journal is not this user's alone
/// (owned by another user, or writable by the group or others, or a
/// symlink): whoever can write the journal can make a watch take a file as
/// done, and delete or move it unprocessed.
class untrusted_journal : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The outcome recorded for a file version.
enum class journal_outcome : char { done = 'D', failed = 'F' };

/// A durable record of which input versions are finished, so a restarted
/// watch neither repeats nor skips a file. An append-only text log: one line
/// per finished file, appended and fsynced after every output of that file
/// is on disk. A torn last line (a crash mid-append) is ignored and cut off.
/// The log is rewritten compactly when most of its lines are stale.
class journal {
public:
  /// Opens (creating) the journal in folder `dir`, which is created
  /// private (0700) when missing. Throws untrusted_journal when the folder
  /// or the journal belongs to another user or others may write to it.
  explicit journal(const std::filesystem::path& dir);
  ~journal();

  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  /// The recorded outcome for exactly this version of the file, if any.
  std::optional<journal_outcome> lookup(const file_key& key) const;

  /// Records and fsyncs an outcome. Throws std::runtime_error on I/O errors.
  void record(const file_key& key, journal_outcome outcome);

  /// Forgets the file at `path` (it was moved or deleted after success).
  void forget(const std::string& path);

  /// Records that this version of the file was taken into the pipeline
  /// (written, not synced: it only has to outlive a crash of pixline, not
  /// of the machine). An outcome recorded later closes it.
  void started(const file_key& key);

  /// How many times this version of the file was taken and never finished:
  /// pixline ended abnormally with it in flight (a decoder that crashed
  /// pixline itself, a kill -9, the machine).
  int interrupted(const file_key& key) const;

  /// Lines in the log file (for tests and compaction).
  std::size_t lines() const;

  /// Entries alive (one per path).
  std::size_t size() const;

  /// The log file.
  const std::filesystem::path& file() const {
    return file_;
  }

private:
  struct entry {
    file_key key;
    journal_outcome outcome;
  };

  /// Reads the log's text into entries_ and cuts off a torn last line.
  void load(const std::string& text);
  /// Appends a line; `sync`, it is on the disk when this returns.
  void append(const std::string& line, bool sync = true);
  /// Counts a start line for `key` (count_start) or ends its starts.
  void count_start(const file_key& key);
  void compact();

  std::filesystem::path file_;
  int dir_fd_ = -1;
  int fd_ = -1;
  std::size_t lines_ = 0;
  std::unordered_map<std::string, entry> entries_;
  /// Files taken and not finished since: the version, and how often.
  struct start {
    file_key key;
    int count = 0;
  };
  std::unordered_map<std::string, start> starts_;
  mutable std::mutex mutex_;
};

} // namespace pixline
