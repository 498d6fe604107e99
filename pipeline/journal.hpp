#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

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

/// An output as the journal knows it: where, how big, and a hash of its
/// bytes (FNV-1a 64, as for inputs).
struct output_key {
  std::string path;
  std::uint64_t size = 0;
  std::uint64_t hash = 0;

  bool operator==(const output_key&) const = default;
};

/// Reads the output `path` (never through a symlink at its name) and
/// returns its key; nothing if it is not a regular file that can be read.
std::optional<output_key> output_key_of(const std::filesystem::path& path);

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

  /// Records and fsyncs an outcome, with the outputs written for this
  /// version (each claimed for its input from now on, across restarts).
  /// Throws std::runtime_error on I/O errors.
  void record(const file_key& key, journal_outcome outcome,
              const std::vector<output_key>& outputs = {});

  /// Every output the journal names, with the input it belongs to
  /// (output path -> input path): what a restarted watch still owes
  /// `on_collision`. Outputs forgotten inputs wrote are kept: their names
  /// stay theirs.
  std::vector<std::pair<std::string, std::string>> claims() const;

  /// Checks the outputs recorded with the done version `key` against the
  /// disk: empty when there is at least one and every one is there, a
  /// regular file with its recorded size and hash; else why not. What must
  /// hold before the original is deleted or moved.
  std::string check_outputs(const file_key& key) const;

  /// Forgets the file at `path` (it was moved or deleted after success).
  void forget(const std::string& path);

  /// Records that this version of the file was taken into the pipeline
  /// (written, not synced: it only has to outlive a crash of pixline, not
  /// of the machine). An outcome recorded later closes it.
  void started(const file_key& key);

  /// How many times pixline crashed (a fatal signal: SIGSEGV, SIGABRT...,
  /// what a decoder's bug causes) while this version of the file was in
  /// flight. A kill, the OOM killer or a power cut are not counted: they
  /// say nothing about the file.
  int crashed_with(const file_key& key) const;

  /// From now on, a fatal signal in this process appends a crash mark to
  /// this journal before the process dies (one journal per process).
  void mark_crashes();

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
    /// The outputs recorded with this version (keys of claims_).
    std::vector<std::string> outputs;
  };
  /// An output: its input (the path and that version's hash) and key.
  struct claim {
    std::string input;
    std::uint64_t input_hash = 0;
    output_key key;
  };

  /// Reads the log's text into entries_ and cuts off a torn last line;
  /// sets legacy_ for a journal in format 1.
  void load(const std::string& text);
  /// Re-hashes a format-1 journal's entries (FNV-1a) with XXH3 and
  /// rewrites it in format 2: an entry whose file changed or went is
  /// dropped.
  void upgrade();
  /// Appends a line (after the format line, into an empty journal); `sync`,
  /// it is on the disk when this returns.
  void append(const std::string& line, bool sync = true);
  /// A crash mark: every file open in the run being read crashed it.
  void count_crash();
  /// Opens crashes.log beside the journal, reads it, starts this run in it;
  /// `upgraded`, its hashes are format 1's and are re-hashed.
  void open_crash_log(bool upgraded);
  void append_crash_log(const std::string& line);
  void compact_crash_log();
  int crash_log_ = -1;
  std::size_t crash_lines_ = 0;
  /// Rewrites the log with the live entries; false when it could not.
  bool compact();
  /// The log was in format 1 (FNV-1a hashes) when read.
  bool legacy_ = false;
  /// The log is empty: the next append writes the format line first.
  bool fresh_ = false;

  std::filesystem::path file_;
  int dir_fd_ = -1;
  int fd_ = -1;
  std::size_t lines_ = 0;
  std::unordered_map<std::string, entry> entries_;
  /// Output path -> what the journal knows of it.
  std::unordered_map<std::string, claim> claims_;
  /// Files in flight when pixline crashed: the version, and how often.
  struct start {
    file_key key;
    int crashes = 0;
  };
  std::unordered_map<std::string, start> crashes_;
  /// Files started since the last run mark and not finished (while
  /// loading: in the run being read; after: in this run).
  std::unordered_map<std::string, file_key> open_;
  mutable std::mutex mutex_;
};

} // namespace pixline
