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
/// is on disk, just after a line per output. A torn last line (a crash
/// mid-append) is ignored and cut off. The log is rewritten compactly when
/// most of its lines are stale.
///
/// Memory holds no path: each input version and each output claim is kept
/// as a 128-bit hash of its path (XXH3-128) with the offset of its line in
/// the log, which is read again for the few questions that need the names
/// (whose is this output, what did this version write). Claims of forgotten
/// inputs whose output is gone are dropped when the log is read and when it
/// is compacted, so memory follows what is on the disk, not the history.
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
  /// (output path -> input path), read from the log. Outputs forgotten
  /// inputs wrote are kept while they are there: their names stay theirs.
  std::vector<std::pair<std::string, std::string>> claims() const;

  /// The input that has the name `output` from an earlier record, when it
  /// is another input than `input` and the output is still there (a name
  /// whose output is gone is free); nothing otherwise. What on_collision
  /// asks about a name this run has not given yet.
  std::optional<std::string> owner_of(const std::string& output,
                                      const std::string& input) const;

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

  /// Output names claimed (one per output path).
  std::size_t claim_count() const;

  /// Rewrites the log with only its live lines now (it is done by itself
  /// when most lines are stale); false when it could not.
  bool compact_now();

  /// The log file.
  const std::filesystem::path& file() const {
    return file_;
  }

  /// A path as memory holds it: XXH3-128 of its bytes.
  struct path_id {
    std::uint64_t low = 0;
    std::uint64_t high = 0;

    bool operator==(const path_id&) const = default;
  };

private:
  struct path_id_hash {
    std::size_t operator()(const path_id& id) const noexcept {
      return std::size_t(id.low);
    }
  };
  /// A version's record: its key but the path, where its line is, and
  /// where the lines of the outputs recorded with it begin (they come just
  /// before it).
  struct entry {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::uint64_t hash = 0;
    std::int64_t at = 0;
    std::int64_t outputs_at = 0;
    std::uint32_t outputs = 0;
    journal_outcome outcome = journal_outcome::done;
  };
  /// Whose an output is: its input and that version's hash, and where the
  /// line that says so is.
  struct claim {
    path_id input;
    std::uint64_t input_hash = 0;
    std::int64_t at = 0;
  };

  /// Reads the log into entries_ and claims_ and cuts off a torn last
  /// line; a journal in format 1 is upgraded first (then true).
  bool load();
  /// Rewrites a format-1 journal (FNV-1a hashes) in format 2, re-hashed
  /// with XXH3: an entry whose file changed or went is dropped.
  void upgrade(const std::string& text);
  /// Drops claims of inputs no longer in the journal whose output is gone.
  void prune_claims();
  /// Appends a line (after the format line, into an empty journal); `sync`,
  /// it is on the disk when this returns. Returns the line's offset.
  std::int64_t append(const std::string& line, bool sync = true);
  /// The line at `at`, without its newline.
  std::string line_at(std::int64_t at) const;
  /// The input path the claim's line names.
  std::string input_of(const claim& c) const;
  /// A crash mark: every file open in the run being read crashed it.
  void count_crash();
  /// Opens crashes.log beside the journal, reads it, starts this run in it;
  /// `upgraded`, its hashes are format 1's and are re-hashed.
  void open_crash_log(bool upgraded);
  void append_crash_log(const std::string& line);
  void compact_crash_log();
  int crash_log_ = -1;
  std::size_t crash_lines_ = 0;
  /// Rewrites the log with the live lines; false when it could not.
  bool compact();
  /// Compacts when most lines are stale.
  void compact_if_stale();
  /// The log is empty: the next append writes the format line first.
  bool fresh_ = false;

  std::filesystem::path file_;
  int dir_fd_ = -1;
  int fd_ = -1;
  std::size_t lines_ = 0;
  /// Lines the last compaction kept.
  std::size_t compacted_lines_ = 0;
  /// The log's size: where the next line goes.
  std::int64_t end_ = 0;
  std::unordered_map<path_id, entry, path_id_hash> entries_;
  /// Output path -> whose it is.
  std::unordered_map<path_id, claim, path_id_hash> claims_;
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
