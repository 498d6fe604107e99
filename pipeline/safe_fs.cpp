#include "pipeline/safe_fs.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <regex>
#include <sstream>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/sysmacros.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace fs = std::filesystem;

namespace pixline {

namespace {

/// Set once openat2 answered ENOSYS (a kernel before 5.6, or a seccomp
/// filter that refuses it): from then on, one component at a time.
std::atomic<bool> no_openat2{false};

constexpr int dir_flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;

std::string error_text(int err) {
  return std::strerror(err);
}

/// openat2(dirfd, rel, dir_flags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
/// -1 with errno set on failure (ENOSYS where there is no openat2).
int open_beneath(int dirfd, const char* rel) {
  if (no_openat2.load(std::memory_order_relaxed)) {
    errno = ENOSYS;
    return -1;
  }
  open_how how{};
  how.flags = dir_flags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  auto fd = ::syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
  if (fd < 0 && errno == ENOSYS)
    no_openat2.store(true, std::memory_order_relaxed);
  return int(fd);
}

bool is_symlink_at(int dirfd, const char* name) {
  struct stat st;
  return ::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0
         && S_ISLNK(st.st_mode);
}

/// The components of a path below a folder: no root, no "..", no ".".
std::vector<std::string> components_of(const fs::path& rel) {
  if (rel.is_absolute())
    throw std::runtime_error(
      fmt::format("{}: an absolute path where a relative one belongs",
                  rel.string()));
  std::vector<std::string> parts;
  for (auto& c : rel.lexically_normal()) {
    auto s = c.string();
    if (s.empty() || s == ".")
      continue;
    if (s == "..")
      throw std::runtime_error(
        fmt::format("{}: leaves its folder", rel.string()));
    parts.push_back(s);
  }
  return parts;
}

std::string random_hex() {
  unsigned char bytes[8];
  size_t got = 0;
  while (got < sizeof bytes) {
    auto n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw std::runtime_error(
        fmt::format("getrandom failed: {}", error_text(errno)));
    }
    got += size_t(n);
  }
  std::string hex;
  for (auto b : bytes)
    hex += fmt::format("{:02x}", b);
  return hex;
}

int rename_noreplace(int from_dir, const char* from, int to_dir,
                     const char* to) {
  if (::renameat2(from_dir, from, to_dir, to, RENAME_NOREPLACE) == 0)
    return 0;
  int err = errno;
  if (err != EINVAL && err != ENOSYS)
    return err;
  // A file system without RENAME_NOREPLACE: a hard link cannot replace
  // anything either.
  if (::linkat(from_dir, from, to_dir, to, 0) != 0)
    return errno;
  ::unlinkat(from_dir, from, 0);
  return 0;
}

/// Copies the open file `in` into a new temporary file in `dir`, with `in`'s
/// permissions, fsynced. Returns the temporary's name; throws (removing it)
/// on failure.
std::string copy_into_temp(int in, const safe_dir& dir) {
  auto [out, temp] = dir.create_temp();
  auto fail = [&, &temp = temp](const char* what, int err) {
    dir.remove(temp);
    throw std::runtime_error(fmt::format("{}: {}: {}",
                                         (dir.path() / temp).string(), what,
                                         error_text(err)));
  };
  struct stat st;
  if (::fstat(in, &st) != 0)
    fail("stat failed", errno);
  std::vector<char> buf(1 << 16);
  for (;;) {
    auto n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      fail("read failed", errno);
    if (n == 0)
      break;
    if (int err = write_all(out.get(), buf.data(), size_t(n)))
      fail("write failed", err);
  }
  if (::fchmod(out.get(), st.st_mode & 07777) != 0)
    fail("chmod failed", errno);
  if (::fsync(out.get()) != 0)
    fail("fsync failed", errno);
  if (out.close() != 0)
    fail("close failed", errno);
  return temp;
}

/// Largest version number move_keeping_all tries.
constexpr int max_versions = 100000;

} // namespace

unique_fd::~unique_fd() {
  close();
}

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.release();
  }
  return *this;
}

int unique_fd::close() {
  if (fd_ < 0)
    return 0;
  int r = ::close(release());
  return r;
}

void use_openat2(bool on) {
  no_openat2.store(!on, std::memory_order_relaxed);
}

unique_fd reopen_read(int fd) {
  auto link = fmt::format("/proc/self/fd/{}", fd);
  unique_fd again{
    ::open(link.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)};
  if (!again)
    throw std::runtime_error(fmt::format(
      "cannot open the checked input file again through {}: {}", link,
      error_text(errno)));
  return again;
}

int write_all(int fd, const void* data, std::size_t size) {
  auto p = static_cast<const char*>(data);
  while (size > 0) {
    auto n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    p += n;
    size -= size_t(n);
  }
  return 0;
}

safe_dir safe_dir::open_root(const fs::path& path, bool create) {
  if (create) {
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec)
      throw std::runtime_error(fmt::format("cannot create folder {}: {}",
                                           path.string(), ec.message()));
  }
  int fd = ::open(path.c_str(), dir_flags);
  if (fd < 0)
    throw std::runtime_error(fmt::format("cannot open folder {}: {}",
                                         path.string(), error_text(errno)));
  return safe_dir{unique_fd{fd}, path};
}

std::optional<safe_dir> safe_dir::open_below(const fs::path& rel,
                                             bool create) const {
  auto parts = components_of(rel);
  fs::path full = path_;
  for (auto& part : parts)
    full /= part;
  if (parts.empty()) {
    int fd = ::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
      throw std::runtime_error(fmt::format("cannot open folder {}: {}",
                                           path_.string(), error_text(errno)));
    return safe_dir{unique_fd{fd}, path_};
  }
  // One system call when the folder is there and nothing is in the way.
  fs::path joined;
  for (auto& part : parts)
    joined /= part;
  int fd = open_beneath(fd_.get(), joined.c_str());
  if (fd >= 0)
    return safe_dir{unique_fd{fd}, full};
  // Otherwise one component at a time: to create what is missing, and to
  // name the symlink in the way.
  unique_fd cur{::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0)};
  fs::path sofar = path_;
  for (auto& part : parts) {
    sofar /= part;
    for (int attempt = 0;; ++attempt) {
      int next = ::openat(cur.get(), part.c_str(), dir_flags | O_NOFOLLOW);
      if (next >= 0) {
        cur = unique_fd{next};
        break;
      }
      int err = errno;
      if ((err == ELOOP || err == ENOTDIR)
          && is_symlink_at(cur.get(), part.c_str()))
        throw unsafe_path(
          fmt::format("refusing to follow symlink {}", sofar.string()));
      if (err == ENOENT && !create)
        return std::nullopt;
      if (err == ENOENT && attempt < 3) {
        if (::mkdirat(cur.get(), part.c_str(), 0777) != 0
            && errno != EEXIST)
          throw std::runtime_error(fmt::format("cannot create folder {}: {}",
                                               sofar.string(),
                                               error_text(errno)));
        continue;
      }
      throw std::runtime_error(fmt::format("cannot open folder {}: {}",
                                           sofar.string(), error_text(err)));
    }
  }
  return safe_dir{std::move(cur), full};
}

bool safe_dir::has(const std::string& name) const {
  struct stat st;
  // Anything but "not there" (EACCES, say) counts as taken.
  return ::fstatat(fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0
         || errno != ENOENT;
}

std::pair<unique_fd, std::string> safe_dir::create_temp() const {
  for (int attempt = 0;; ++attempt) {
    auto name = fmt::format(".pixline-{}-{}.tmp", ::getpid(), random_hex());
    int fd = ::openat(fd_.get(), name.c_str(),
                      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      0600);
    if (fd >= 0)
      return {unique_fd{fd}, name};
    if (errno != EEXIST || attempt >= 8)
      throw std::runtime_error(
        fmt::format("cannot create a temporary file in {}: {}",
                    path_.string(), error_text(errno)));
  }
}

int safe_dir::rename(const std::string& from, const std::string& to) const {
  return ::renameat(fd_.get(), from.c_str(), fd_.get(), to.c_str()) == 0
           ? 0
           : errno;
}

int safe_dir::rename_new(const std::string& from,
                         const std::string& to) const {
  return rename_noreplace(fd_.get(), from.c_str(), fd_.get(), to.c_str());
}

void safe_dir::remove(const std::string& name) const noexcept {
  ::unlinkat(fd_.get(), name.c_str(), 0);
}

std::optional<pid_t> temporary_owner(const std::string& name) {
  static const std::regex current{
    R"(^\.pixline-(\d{1,10})-[0-9a-f]{16}\.tmp$)"};
  static const std::regex older{R"(^\..+\.pixline-(\d{1,10})-\d+\.tmp$)"};
  std::smatch m;
  if (!std::regex_match(name, m, current) && !std::regex_match(name, m, older))
    return std::nullopt;
  auto pid = std::stoll(m[1].str());
  if (pid <= 0 || pid > 0x7fffffff)
    return std::nullopt;
  return pid_t(pid);
}

std::string versioned_name(const std::string& name, int n) {
  if (n == 0)
    return name;
  auto dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0)
    return fmt::format("{}.{}", name, n);
  return fmt::format("{}.{}{}", name.substr(0, dot), n, name.substr(dot));
}

std::string move_keeping_all(const fs::path& from, const safe_dir& dir,
                             const std::string& name,
                             bool (*also_free)(const safe_dir&,
                                               const std::string&)) {
  auto fail = [&](const std::string& what, int err) -> std::string {
    throw std::runtime_error(fmt::format("cannot move {} to {}: {}: {}",
                                         from.string(), dir.path().string(),
                                         what, error_text(err)));
  };
  std::string temp; // the copy, once the file had to be copied
  for (int n = 0; n <= max_versions; ++n) {
    auto candidate = versioned_name(name, n);
    if (dir.has(candidate) || (also_free && !also_free(dir, candidate)))
      continue;
    int err = temp.empty()
                ? rename_noreplace(AT_FDCWD, from.c_str(), dir.fd(),
                                   candidate.c_str())
                : dir.rename_new(temp, candidate);
    if (err == EEXIST)
      continue;
    if (err == EXDEV && temp.empty()) {
      unique_fd in{::open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
      if (in.get() < 0)
        return fail("open failed", errno);
      try {
        temp = copy_into_temp(in.get(), dir);
      } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("cannot move {} to {}: {}",
                                             from.string(),
                                             dir.path().string(), e.what()));
      }
      --n; // the same name again, now for the copy
      continue;
    }
    if (err != 0) {
      if (!temp.empty())
        dir.remove(temp);
      return fail("rename failed", err);
    }
    if (!temp.empty() && ::unlink(from.c_str()) != 0)
      return fail(fmt::format("copied to {}, but cannot remove the original",
                              candidate),
                  errno);
    return candidate;
  }
  if (!temp.empty())
    dir.remove(temp);
  return fail("every versioned name is taken", EEXIST);
}

void write_new_file(const safe_dir& dir, const std::string& name,
                    const std::string& text) {
  unique_fd fd{::openat(dir.fd(), name.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0644)};
  auto fail = [&](const char* what, int err) {
    throw std::runtime_error(fmt::format("{}: {}: {}",
                                         (dir.path() / name).string(), what,
                                         error_text(err)));
  };
  if (fd.get() < 0)
    fail("cannot create", errno);
  if (int err = write_all(fd.get(), text.data(), text.size())) {
    dir.remove(name);
    fail("write failed", err);
  }
  if (::fsync(fd.get()) != 0 || fd.close() != 0) {
    int err = errno;
    dir.remove(name);
    fail("fsync failed", err);
  }
}

namespace {

bool owner_gone(pid_t pid) {
  if (pid == ::getpid())
    return true; // an earlier run in this process
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

std::size_t remove_temporaries_in(int dirfd, int depth) {
  if (depth > 64)
    return 0;
  int copy = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0)
    return 0;
  DIR* d = ::fdopendir(copy);
  if (!d) {
    ::close(copy);
    return 0;
  }
  std::size_t removed = 0;
  std::vector<std::string> subdirs;
  while (auto* entry = ::readdir(d)) {
    std::string name = entry->d_name;
    if (name == "." || name == "..")
      continue;
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      subdirs.push_back(name);
      continue;
    }
    auto pid = temporary_owner(name);
    if (!pid || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()
        || !owner_gone(*pid))
      continue;
    if (::unlinkat(dirfd, name.c_str(), 0) == 0)
      ++removed;
  }
  ::closedir(d);
  for (auto& name : subdirs) {
    unique_fd sub{::openat(dirfd, name.c_str(), dir_flags | O_NOFOLLOW)};
    if (sub.get() >= 0)
      removed += remove_temporaries_in(sub.get(), depth + 1);
  }
  return removed;
}

} // namespace

namespace {

using folder_key = std::pair<dev_t, ino_t>;

folder_key key_of(const struct stat& st) {
  return {st.st_dev, st.st_ino};
}

/// The folders this process holds a folder_lock on (its own or a shared
/// one above an output folder), with how many locks hold each: another of
/// this process's output folders may lie below or above them.
std::mutex held_mutex;
std::map<folder_key, int> held_here;

void hold(const folder_key& key) {
  std::lock_guard<std::mutex> guard{held_mutex};
  ++held_here[key];
}

bool held(const folder_key& key) {
  std::lock_guard<std::mutex> guard{held_mutex};
  return held_here.count(key) != 0;
}

void unhold(const folder_key& key) {
  std::lock_guard<std::mutex> guard{held_mutex};
  auto it = held_here.find(key);
  if (it != held_here.end() && --it->second == 0)
    held_here.erase(it);
}

/// A flock() on a file, from /proc/locks
/// ("1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF").
struct flock_line {
  pid_t pid = 0;
  bool exclusive = false;
  std::string file;
};

std::vector<flock_line> flocks() {
  std::vector<flock_line> found;
  std::ifstream locks("/proc/locks");
  std::string line;
  while (std::getline(locks, line)) {
    std::istringstream fields(line);
    std::string id, kind, mode, access, pid, where;
    fields >> id >> kind;
    if (kind == "->") // a waiter: "1: -> FLOCK ..."
      continue;
    fields >> mode >> access >> pid >> where;
    if (kind != "FLOCK")
      continue;
    try {
      found.push_back({pid_t(std::stol(pid)), access == "WRITE", where});
    } catch (const std::exception&) {
    }
  }
  return found;
}

std::string proc_locks_name(const struct stat& st) {
  return fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev),
                     st.st_ino);
}

/// The process holding a flock() on the file `st` names, an exclusive
/// holder first.
std::optional<flock_line> flock_holder(const struct stat& st) {
  std::optional<flock_line> holder;
  auto file = proc_locks_name(st);
  for (auto& l : flocks())
    if (l.file == file && (!holder || (l.exclusive && !holder->exclusive)))
      holder = l;
  return holder;
}

/// The folder below `inside` that process `pid` holds an exclusive
/// flock() on (its output folder), from its open descriptors; "" when it
/// cannot be told.
std::string locked_below(pid_t pid, const fs::path& inside) {
  std::set<std::string> exclusive;
  for (auto& l : flocks())
    if (l.pid == pid && l.exclusive)
      exclusive.insert(l.file);
  auto prefix = inside.string();
  if (prefix.empty() || prefix.back() != '/')
    prefix += '/';
  std::error_code ec;
  std::string found;
  for (fs::directory_iterator it{fmt::format("/proc/{}/fd", pid), ec}, end;
       !ec && it != end; it.increment(ec)) {
    struct stat st;
    if (::stat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)
        || !exclusive.count(proc_locks_name(st)))
      continue;
    auto target = fs::read_symlink(it->path(), ec).string();
    if (!ec && target.compare(0, prefix.size(), prefix) == 0)
      found = target;
  }
  return found;
}

std::string holder_text(const std::optional<flock_line>& holder) {
  return holder ? fmt::format(" (pid {})", holder->pid) : std::string();
}

} // namespace

folder_lock::folder_lock(folder_lock&& other) noexcept
  : fd_(std::move(other.fd_)), above_(std::move(other.above_)),
    held_(std::move(other.held_)) {
  other.above_.clear();
  other.held_.clear();
}

folder_lock& folder_lock::operator=(folder_lock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::move(other.fd_);
    above_ = std::move(other.above_);
    held_ = std::move(other.held_);
    other.above_.clear();
    other.held_.clear();
  }
  return *this;
}

folder_lock::~folder_lock() {
  release();
}

void folder_lock::release() noexcept {
  for (auto& key : held_)
    unhold(key);
  held_.clear();
  above_.clear();
  fd_.close();
}

folder_lock folder_lock::take(const fs::path& path, const std::string& what,
                              bool create) {
  if (create) {
    std::error_code ec;
    fs::create_directories(path, ec);
  }
  folder_lock lock;
  lock.fd_.reset(::open(path.c_str(), dir_flags));
  if (!lock.fd_)
    throw std::runtime_error(fmt::format("cannot open the {} {}: {}", what,
                                         path.string(), error_text(errno)));
  struct stat st;
  if (::fstat(lock.fd_.get(), &st) != 0)
    throw std::runtime_error(fmt::format("cannot open the {} {}: {}", what,
                                         path.string(), error_text(errno)));
  std::error_code ec;
  auto shown = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec)
    shown = path;
  const auto why_tree = "two runs writing into one folder tree could name "
                        "two images to one file; wait for it to finish, or "
                        "give this run a folder outside the other's";
  if (what == "output folder") {
    // Up through "..", the folder's real parents whatever path named it:
    // a shared lock on each, unless this process holds it already (its
    // own output folders may nest). Stops where a folder cannot be opened
    // (no permission) or has no locks.
    auto above_name = shown;
    int at = lock.fd_.get();
    struct stat below = st;
    for (;;) {
      unique_fd up{::openat(at, "..", dir_flags)};
      struct stat up_st;
      if (!up || ::fstat(up.get(), &up_st) != 0
          || key_of(up_st) == key_of(below))
        break;
      above_name = above_name.has_relative_path() ? above_name.parent_path()
                                                  : above_name;
      below = up_st;
      if (!held(key_of(up_st))) {
        if (::flock(up.get(), LOCK_SH | LOCK_NB) != 0) {
          if (errno != EWOULDBLOCK)
            break;
          throw folder_busy(fmt::format(
            "another pixline process{} is writing to {}, and this run's {} "
            "{} is inside it: {}",
            holder_text(flock_holder(up_st)), above_name.string(), what,
            shown.string(), why_tree));
        }
        hold(key_of(up_st));
        lock.held_.push_back(key_of(up_st));
      }
      lock.above_.push_back(std::move(up));
      at = lock.above_.back().get();
    }
  }
  if (::flock(lock.fd_.get(), LOCK_EX | LOCK_NB) == 0) {
    hold(key_of(st));
    lock.held_.push_back(key_of(st));
    return lock;
  }
  int err = errno;
  if (err != EWOULDBLOCK) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true))
      spdlog::warn("cannot lock the {} {} ({}): another pixline process "
                   "writing to it at the same time would not be noticed",
                   what, path.string(), error_text(err));
    return lock;
  }
  auto holder = flock_holder(st);
  if (holder && !holder->exclusive) {
    // Shared: another process's output folder is below this one.
    auto inner = locked_below(holder->pid, shown);
    throw folder_busy(fmt::format(
      "another pixline process{} is writing to {}, which is inside this "
      "run's {} {}: {}",
      holder_text(holder),
      inner.empty() ? std::string("a folder") : inner, what, shown.string(),
      why_tree));
  }
  auto why = what == "state folder"
               ? "two watches would each miss the other's journal lines and "
                 "could take one file twice"
               : "two at once could name two images to one file";
  throw folder_busy(fmt::format(
    "another pixline process{} is writing to the {} {}: {}; wait for it to "
    "finish, or give this run another folder",
    holder_text(holder), what, path.string(), why));
}

std::size_t remove_stale_temporaries(const fs::path& root) {
  unique_fd fd{::open(root.c_str(), dir_flags)};
  if (fd.get() < 0)
    return 0;
  return remove_temporaries_in(fd.get(), 0);
}

} // namespace pixline
