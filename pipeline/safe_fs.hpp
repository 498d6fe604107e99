#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace pixline {

/// Thrown when a path below a folder pixline writes to would go through a
/// symbolic link: "refusing to follow symlink out/sub".
class unsafe_path : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A file descriptor, closed when the object dies.
class unique_fd {
public:
  explicit unique_fd(int fd = -1) : fd_(fd) {
  }
  ~unique_fd();
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {
  }
  unique_fd& operator=(unique_fd&& other) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;

  int get() const {
    return fd_;
  }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  explicit operator bool() const {
    return fd_ >= 0;
  }
  /// Closes it now; returns close()'s result (0 when there was none).
  int close();
  /// Closes the one it has and takes `fd`.
  void reset(int fd = -1) {
    close();
    fd_ = fd;
  }

private:
  int fd_;
};

/// A folder pixline writes into (the output folder, done_dir, quarantine),
/// opened once. Everything below it is reached through its descriptor
/// (openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or one component
/// at a time with O_NOFOLLOW where the kernel has no openat2), so a symlink
/// below it is never followed, and files are created with O_EXCL under
/// names nobody can guess. Plain POSIX, no CAF. Not copyable; cheap to
/// move.
class safe_dir {
public:
  /// Opens the folder `path`, creating it (and its parents) first when
  /// `create`. Symlinks in `path` itself are followed: it is the folder the
  /// user named. Throws std::runtime_error naming it.
  static safe_dir open_root(const std::filesystem::path& path, bool create);

  /// The folder `rel` below this one (relative, no ".."; "" is this folder
  /// again), its missing components created one at a time with mkdirat
  /// when `create`. Throws unsafe_path when a component is a symlink,
  /// std::runtime_error for other failures; nothing when it is missing and
  /// not `create`.
  std::optional<safe_dir> open_below(const std::filesystem::path& rel,
                                     bool create) const;

  int fd() const {
    return fd_.get();
  }

  /// The path it was opened as, for messages.
  const std::filesystem::path& path() const {
    return path_;
  }

  /// Whether `name` (one component) exists here; a symlink counts, and is
  /// not followed.
  bool has(const std::string& name) const;

  /// A new, empty temporary file here, `.pixline-PID-RANDOM.tmp` (16 random
  /// hex digits from getrandom), created with O_CREAT | O_EXCL | O_NOFOLLOW;
  /// at most 40 bytes whatever the final name's length. Returns the open
  /// descriptor (write-only) and the name.
  std::pair<unique_fd, std::string> create_temp() const;

  /// Renames `from` to `to`, both here, replacing `to` (a symlink at `to`
  /// is replaced, not followed). Returns errno, 0 on success.
  int rename(const std::string& from, const std::string& to) const;

  /// Gives the file `from` (here) the name `to` (here) only when `to` does
  /// not exist (renameat2 RENAME_NOREPLACE, or link + unlink where the
  /// file system lacks it). Returns errno: EEXIST when `to` exists.
  int rename_new(const std::string& from, const std::string& to) const;

  /// Removes `name` here (a file or symlink, never what it points to).
  void remove(const std::string& name) const noexcept;

private:
  safe_dir(unique_fd fd, std::filesystem::path path)
    : fd_(std::move(fd)), path_(std::move(path)) {
  }

  unique_fd fd_;
  std::filesystem::path path_;
};

/// Thrown when another process holds a folder's lock (folder_lock).
class folder_busy : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// An exclusive lock on a folder, held until the object dies (or the
/// process ends, however it ends): flock() on the folder's own descriptor,
/// so nothing is created in it. One per output folder and per watch state
/// folder, so two pixline processes never write one folder at once: not
/// through another path to it either (a symlink, a bind mount), since the
/// lock is the folder's own. An output folder's lock also holds a shared
/// lock on each folder above it (walked up through "..", whatever path
/// named it), so another process's output folder can be neither inside
/// it (it cannot share-lock this one) nor above it (it cannot lock a folder
/// this one share-locks); one process's own output folders may nest.
class folder_lock {
public:
  /// Opens `path` (creating it when `create`) and locks it without
  /// waiting. Throws folder_busy naming it, `what` it is ("output folder",
  /// "state folder"), the process that holds it when the kernel says, and
  /// why two at once would be wrong; for an output folder inside another
  /// process's, or containing one, it names both folders.
  /// std::runtime_error when it cannot be opened. Where the file system
  /// has no locks (some network file systems) it warns once and holds
  /// none.
  static folder_lock take(const std::filesystem::path& path,
                          const std::string& what, bool create);

  folder_lock(folder_lock&& other) noexcept;
  folder_lock& operator=(folder_lock&& other) noexcept;
  folder_lock(const folder_lock&) = delete;
  folder_lock& operator=(const folder_lock&) = delete;
  ~folder_lock();

private:
  folder_lock() = default;
  void release() noexcept;

  unique_fd fd_;
  /// The shared locks on the folders above an output folder.
  std::vector<unique_fd> above_;
  /// The folders (device, inode) this lock holds, in this process's list
  /// of folders it holds itself.
  std::vector<std::pair<dev_t, ino_t>> held_;
};

/// Whether safe_dir tries openat2 first (the default where the kernel has
/// it); false walks one O_NOFOLLOW component at a time, as on kernels
/// without openat2. For tests of that path.
void use_openat2(bool on);

/// A new read-only open of the very file `fd` is open on, with a file
/// offset of its own, whatever its path names now (through the magic link
/// /proc/self/fd/N, which reaches the open file, not a path). What a
/// reader of a checked file uses, so a file swapped in at the checked path
/// afterwards is never read. Throws std::runtime_error (no /proc).
unique_fd reopen_read(int fd);

/// Writes all of `data` to `fd`, retrying after EINTR and short writes.
/// Returns 0, or the errno of the write that failed.
int write_all(int fd, const void* data, std::size_t size);

/// The pid in a pixline temporary file's name (`.pixline-PID-HEX.tmp`, or
/// the older `.NAME.pixline-PID-N.tmp`); nothing for other names.
std::optional<pid_t> temporary_owner(const std::string& name);

/// Version `n` of a file name: `photo.jpg`, `photo.1.jpg`, `photo.2.jpg`...
/// (n = 0 is the name itself; a name without extension gets `.N` at the end).
std::string versioned_name(const std::string& name, int n);

/// Moves the file `from` into `dir` under `name` or, when that is taken, the
/// first free versioned_name(name, n), without replacing anything. Across
/// file systems the file is copied into a temporary file there, fsynced,
/// named, and only then is `from` removed; a copy that fails (disk full)
/// leaves nothing behind and `from` in place. `free` may veto a name that
/// is free (e.g. when its sidecar is taken). Returns the name used; throws
/// std::runtime_error naming both files.
std::string move_keeping_all(const std::filesystem::path& from,
                             const safe_dir& dir, const std::string& name,
                             bool (*also_free)(const safe_dir&,
                                               const std::string&)
                             = nullptr);

/// Creates the file `name` in `dir` with `text`, never replacing or
/// following anything (O_CREAT | O_EXCL | O_NOFOLLOW), and fsyncs it.
/// Throws std::runtime_error naming it.
void write_new_file(const safe_dir& dir, const std::string& name,
                    const std::string& text);

/// Removes the temporary files that dead pixline processes left below
/// `root` (and this process's own, from an earlier run in it): only files
/// with pixline's temporary names, only regular files owned by this user,
/// never through a symlink. Returns how many it removed.
std::size_t remove_stale_temporaries(const std::filesystem::path& root);

} // namespace pixline
