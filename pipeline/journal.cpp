#include "pipeline/journal.hpp"

#include <cerrno>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace fs = std::filesystem;

namespace pixline {

namespace {

/// FNV-1a, 64 bits: stable across runs and machines, needs no library.
std::uint64_t fnv1a(const char* p, size_t n, std::uint64_t h) {
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// Paths may hold any byte but NUL; escape the ones that break a line.
std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      char c = s[++i];
      out += c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string line_of(const file_key& k, char outcome) {
  return fmt::format("{}\t{}\t{}\t{:016x}\t{}\n", outcome, k.size, k.mtime_ns,
                     k.hash, escape(k.path));
}

} // namespace

std::optional<file_key> key_of(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return std::nullopt;
  }
  file_key k;
  k.path = path.string();
  k.size = std::uint64_t(st.st_size);
  k.mtime_ns = std::int64_t(st.st_mtim.tv_sec) * 1000000000LL
               + st.st_mtim.tv_nsec;
  std::uint64_t h = 0xcbf29ce484222325ULL;
  std::vector<char> buf(1 << 16);
  for (;;) {
    auto n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0)
      break;
    h = fnv1a(buf.data(), size_t(n), h);
  }
  ::close(fd);
  k.hash = h;
  return k;
}

namespace {

/// Throws untrusted_journal unless `fd` is this user's and only this
/// user's to write.
void check_trusted(int fd, const fs::path& path, const char* what) {
  struct stat st;
  if (::fstat(fd, &st) != 0)
    throw std::runtime_error(fmt::format("cannot stat {} {}: {}", what,
                                         path.string(), std::strerror(errno)));
  if (st.st_uid != ::geteuid())
    throw untrusted_journal(fmt::format(
      "refusing to use the {} {}: it belongs to uid {}, not to this user "
      "(uid {}), and a journal another user can change could make the watch "
      "delete or move files it never processed",
      what, path.string(), st.st_uid, ::geteuid()));
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    throw untrusted_journal(fmt::format(
      "refusing to use the {} {}: other users may write to it (mode {:04o}), "
      "and a journal another user can change could make the watch delete or "
      "move files it never processed; chmod go-w it",
      what, path.string(), st.st_mode & 07777));
}

/// Reads all of `fd` from the start.
std::string read_all(int fd, const fs::path& path) {
  std::string text;
  std::vector<char> buf(1 << 16);
  for (off_t at = 0;;) {
    auto n = ::pread(fd, buf.data(), buf.size(), at);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw std::runtime_error(fmt::format("cannot read journal {}: {}",
                                           path.string(),
                                           std::strerror(errno)));
    if (n == 0)
      return text;
    text.append(buf.data(), size_t(n));
    at += n;
  }
}

} // namespace

journal::journal(const fs::path& dir) : file_(dir / "journal.log") {
  std::error_code ec;
  if (!dir.parent_path().empty())
    fs::create_directories(dir.parent_path(), ec);
  // Private from the start: only this user may write the journal.
  if (ec || (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST))
    throw std::runtime_error(fmt::format(
      "cannot create state folder {}: {}", dir.string(),
      ec ? ec.message() : std::strerror(errno)));
  try {
    dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd_ < 0)
      throw std::runtime_error(fmt::format("cannot open state folder {}: {}",
                                           dir.string(),
                                           std::strerror(errno)));
    check_trusted(dir_fd_, dir, "state folder");
    fd_ = ::openat(dir_fd_, "journal.log",
                   O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd_ < 0 && errno == ELOOP)
      throw untrusted_journal(fmt::format(
        "refusing to use the journal {}: it is a symlink", file_.string()));
    if (fd_ < 0)
      throw std::runtime_error(fmt::format("cannot open journal {}: {}",
                                           file_.string(),
                                           std::strerror(errno)));
    check_trusted(fd_, file_, "journal");
    load(read_all(fd_, file_));
  } catch (...) {
    if (fd_ >= 0)
      ::close(fd_);
    if (dir_fd_ >= 0)
      ::close(dir_fd_);
    throw;
  }
  if (lines_ > 1024 && lines_ > 2 * entries_.size())
    compact();
}

void journal::load(const std::string& text) {
  // A last line without its newline was torn by a crash.
  auto complete = text.rfind('\n');
  size_t keep = complete == std::string::npos ? 0 : complete + 1;
  std::istringstream lines(text.substr(0, keep));
  std::string line;
  while (std::getline(lines, line)) {
    ++lines_;
    std::vector<std::string> parts;
    size_t start = 0;
    for (int i = 0; i < 4; ++i) {
      auto tab = line.find('\t', start);
      if (tab == std::string::npos)
        break;
      parts.push_back(line.substr(start, tab - start));
      start = tab + 1;
    }
    if (parts.size() != 4 || parts[0].size() != 1)
      continue;
    file_key k;
    try {
      k.size = std::stoull(parts[1]);
      k.mtime_ns = std::stoll(parts[2]);
      k.hash = std::stoull(parts[3], nullptr, 16);
    } catch (const std::exception&) {
      continue;
    }
    k.path = unescape(line.substr(start));
    if (parts[0][0] == 'S') {
      count_start(k);
      continue;
    }
    starts_.erase(k.path);
    if (parts[0][0] == 'X')
      entries_.erase(k.path);
    else
      entries_[k.path] = entry{k, journal_outcome(parts[0][0])};
  }
  if (::ftruncate(fd_, off_t(keep)) != 0 || ::lseek(fd_, 0, SEEK_END) < 0)
    throw std::runtime_error(fmt::format("cannot repair journal {}: {}",
                                         file_.string(), std::strerror(errno)));
  ::fsync(dir_fd_);
}

journal::~journal() {
  if (fd_ >= 0)
    ::close(fd_);
  if (dir_fd_ >= 0)
    ::close(dir_fd_);
}

std::optional<journal_outcome> journal::lookup(const file_key& key) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = entries_.find(key.path);
  if (it == entries_.end() || !(it->second.key == key))
    return std::nullopt;
  return it->second.outcome;
}

void journal::count_start(const file_key& key) {
  auto& s = starts_[key.path];
  if (!(s.key == key))
    s = start{key, 0};
  ++s.count;
}

void journal::started(const file_key& key) {
  std::lock_guard<std::mutex> guard{mutex_};
  append(line_of(key, 'S'), false);
  count_start(key);
}

int journal::interrupted(const file_key& key) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = starts_.find(key.path);
  return it == starts_.end() || !(it->second.key == key) ? 0
                                                         : it->second.count;
}

void journal::append(const std::string& line, bool sync) {
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    auto n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw std::runtime_error(fmt::format("cannot write journal {}: {}",
                                           file_.string(),
                                           std::strerror(errno)));
    p += n;
    left -= size_t(n);
  }
  if (sync && ::fdatasync(fd_) != 0)
    throw std::runtime_error(fmt::format("cannot sync journal {}: {}",
                                         file_.string(), std::strerror(errno)));
  ++lines_;
}

void journal::record(const file_key& key, journal_outcome outcome) {
  std::lock_guard<std::mutex> guard{mutex_};
  append(line_of(key, char(outcome)));
  entries_[key.path] = entry{key, outcome};
  starts_.erase(key.path);
  if (lines_ > 1024 && lines_ > 2 * entries_.size())
    compact();
}

void journal::forget(const std::string& path) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (entries_.erase(path) == 0)
    return;
  file_key k;
  k.path = path;
  append(line_of(k, 'X'));
}

std::size_t journal::lines() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return lines_;
}

std::size_t journal::size() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return entries_.size();
}

void journal::compact() {
  // Write the live entries to a new file, sync it, and rename it over the
  // old log: a crash leaves either the old log or the new one. Both names
  // are relative to the state folder's descriptor.
  const char* tmp = "journal.log.compact";
  std::string text;
  for (auto& [path, e] : entries_)
    text += line_of(e.key, char(e.outcome));
  for (auto& [path, s] : starts_)
    for (int i = 0; i < s.count; ++i)
      text += line_of(s.key, 'S');
  ::unlinkat(dir_fd_, tmp, 0);
  int fd = ::openat(dir_fd_, tmp,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return;
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size())
            && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::renameat(dir_fd_, tmp, dir_fd_, "journal.log") != 0) {
    ::unlinkat(dir_fd_, tmp, 0);
    return;
  }
  ::fsync(dir_fd_);
  ::close(fd_);
  fd_ = ::openat(dir_fd_, "journal.log",
                 O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  lines_ = entries_.size();
  for (auto& [path, s] : starts_)
    lines_ += std::size_t(s.count);
}

} // namespace pixline
