#include "pipeline/journal.hpp"

#include <atomic>
#include <csignal>
#include <memory>
#include <mutex>
#include <new>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <xxhash.h>

namespace fs = std::filesystem;

namespace pixline {

namespace {

/// The first line of a journal in format 2, whose hashes are XXH3-64
/// (libxxhash). A journal without it is in format 1, whose hashes are
/// FNV-1a: it is re-hashed when opened (journal::upgrade).
constexpr char format_line[] = "pixline-journal\t2\txxh3\t\n";

/// FNV-1a, 64 bits: the hash of format 1, kept only to read such journals.
std::uint64_t fnv1a(const char* p, size_t n, std::uint64_t h) {
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// The key of the file at `path`: XXH3-64 of its bytes, and, when `fnv`
/// is given, also their FNV-1a (format 1's hash) into it. Nothing if the
/// file cannot be read.
std::optional<file_key> hashed_key(const fs::path& path, std::uint64_t* fnv,
                                   int flags = 0) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | flags);
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
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state{
    XXH3_createState(), &XXH3_freeState};
  if (!state || XXH3_64bits_reset(state.get()) != XXH_OK) {
    ::close(fd);
    throw std::bad_alloc();
  }
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
    XXH3_64bits_update(state.get(), buf.data(), size_t(n));
    if (fnv)
      h = fnv1a(buf.data(), size_t(n), h);
  }
  ::close(fd);
  k.hash = XXH3_64bits_digest(state.get());
  if (fnv)
    *fnv = h;
  return k;
}

/// The format-2 key of a file recorded in a format-1 journal as `old`: when
/// the file is still there, of the same size and time, and with the same
/// FNV-1a hash, that version's key with its XXH3 hash; else nothing (the
/// file changed or went, and is new if it comes back).
std::optional<file_key> rehashed(const file_key& old) {
  std::uint64_t fnv = 0;
  auto k = hashed_key(old.path, &fnv);
  if (!k || k->size != old.size || k->mtime_ns != old.mtime_ns
      || fnv != old.hash)
    return std::nullopt;
  return k;
}

/// Re-keys each value's `key` of `by_path` with rehashed(); drops those
/// whose file changed or went.
template <typename Map> void rehash_all(Map& by_path) {
  for (auto it = by_path.begin(); it != by_path.end();) {
    auto key = rehashed(it->second.key);
    if (!key) {
      it = by_path.erase(it);
      continue;
    }
    it->second.key = *key;
    ++it;
  }
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

/// The journal a fatal signal marks (mark_crashes), or -1.
std::atomic<int> crash_fd{-1};
constexpr char crash_line[] = "C\t\n";

extern "C" void on_fatal_signal(int) {
  // Only async-signal-safe calls: one write. The handler was installed
  // with SA_RESETHAND, so the signal, raised again as this returns (the
  // faulting instruction runs again; abort() raises again), ends the
  // process as it would have.
  int fd = crash_fd.load();
  if (fd >= 0) {
    auto n = ::write(fd, crash_line, sizeof crash_line - 1);
    (void) n;
  }
}


std::string line_of(const file_key& k, char outcome) {
  return fmt::format("{}\t{}\t{}\t{:016x}\t{}\n", outcome, k.size, k.mtime_ns,
                     k.hash, escape(k.path));
}

/// An output's line: its size and hash, its input's version hash, the
/// input, the output. Escaped paths hold no tab, so a tab splits them.
std::string output_line(const std::string& input, std::uint64_t input_hash,
                        const output_key& out) {
  return fmt::format("O\t{}\t{:016x}\t{:016x}\t{}\t{}\n", out.size, out.hash,
                     input_hash, escape(input), escape(out.path));
}

} // namespace

std::optional<file_key> key_of(const fs::path& path) {
  return hashed_key(path, nullptr);
}

std::optional<output_key> output_key_of(const fs::path& path) {
  auto k = hashed_key(path, nullptr, O_NOFOLLOW);
  if (!k)
    return std::nullopt;
  return output_key{k->path, k->size, k->hash};
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
  bool upgraded = false;
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
    upgraded = legacy_;
    if (legacy_)
      upgrade();
  } catch (...) {
    if (fd_ >= 0)
      ::close(fd_);
    if (dir_fd_ >= 0)
      ::close(dir_fd_);
    throw;
  }
  if (lines_ > 1024 && lines_ > 2 * (entries_.size() + claims_.size()))
    compact();
  open_crash_log(upgraded);
}

void journal::open_crash_log(bool upgraded) {
  crash_log_ = ::openat(dir_fd_, "crashes.log",
                        O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
                        0600);
  if (crash_log_ < 0)
    throw std::runtime_error(fmt::format("cannot open {}: {}",
                                         (file_.parent_path() / "crashes.log")
                                           .string(),
                                         std::strerror(errno)));
  // R: a run started (the one before ended, by a crash or not); S: a file
  // went into the pipeline; E: it came out; C: pixline crashed, with every
  // file started and not ended since the last R in flight.
  std::istringstream lines(read_all(crash_log_, file_));
  std::string line;
  while (std::getline(lines, line)) {
    ++crash_lines_;
    auto tab = line.find('\t');
    if (line.size() < 2 || tab != 1)
      continue;
    file_key k;
    if (line[0] == 'S' || line[0] == 'E') {
      std::istringstream fields(line.substr(2));
      std::string size, mtime, hash;
      if (!std::getline(fields, size, '\t') || !std::getline(fields, mtime, '\t')
          || !std::getline(fields, hash, '\t'))
        continue;
      try {
        k.size = std::stoull(size);
        k.mtime_ns = std::stoll(mtime);
        k.hash = std::stoull(hash, nullptr, 16);
      } catch (const std::exception&) {
        continue;
      }
      std::string rest;
      std::getline(fields, rest);
      k.path = unescape(rest);
    }
    switch (line[0]) {
    case 'R':
      open_.clear();
      break;
    case 'S':
      open_[k.path] = k;
      break;
    case 'E':
      open_.erase(k.path);
      crashes_.erase(k.path);
      break;
    case 'C':
      count_crash();
      break;
    }
  }
  // A file with an outcome in the journal is finished, whatever the crash
  // log says (its E may not have reached the disk).
  for (auto& [path, e] : entries_)
    if (auto c = crashes_.find(path); c != crashes_.end() && c->second.key == e.key)
      crashes_.erase(c);
  open_.clear();
  if (upgraded) {
    // Its hashes are format 1's too.
    rehash_all(crashes_);
  }
  if (upgraded || crash_lines_ > 1024)
    compact_crash_log();
  append_crash_log("R\t\n");
}

void journal::append_crash_log(const std::string& line) {
  // Not synced: it only has to outlive pixline, not the machine.
  auto n = ::write(crash_log_, line.data(), line.size());
  (void) n;
  ++crash_lines_;
}

void journal::compact_crash_log() {
  std::string text;
  for (auto& [path, c] : crashes_)
    for (int i = 0; i < c.crashes; ++i)
      text += "R\t\n" + line_of(c.key, 'S') + "C\t\n";
  if (::ftruncate(crash_log_, 0) != 0)
    return;
  auto n = ::write(crash_log_, text.data(), text.size());
  (void) n;
  crash_lines_ = 0;
}

void journal::load(const std::string& text) {
  // A last line without its newline was torn by a crash.
  auto complete = text.rfind('\n');
  size_t keep = complete == std::string::npos ? 0 : complete + 1;
  std::istringstream lines(text.substr(0, keep));
  std::string line;
  legacy_ = keep > 0 && text.compare(0, sizeof format_line - 1, format_line) != 0;
  if (!legacy_ && keep > 0)
    std::getline(lines, line); // the format line
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
    if (parts[0][0] == 'O') {
      auto rest = line.substr(start);
      auto tab = rest.find('\t');
      if (tab == std::string::npos)
        continue;
      claim c;
      try {
        c.key.size = std::stoull(parts[1]);
        c.key.hash = std::stoull(parts[2], nullptr, 16);
        c.input_hash = std::stoull(parts[3], nullptr, 16);
      } catch (const std::exception&) {
        continue;
      }
      c.input = unescape(rest.substr(0, tab));
      c.key.path = unescape(rest.substr(tab + 1));
      claims_[c.key.path] = std::move(c);
      continue;
    }
    file_key k;
    try {
      k.size = std::stoull(parts[1]);
      k.mtime_ns = std::stoll(parts[2]);
      k.hash = std::stoull(parts[3], nullptr, 16);
    } catch (const std::exception&) {
      continue;
    }
    k.path = unescape(line.substr(start));
    if (parts[0][0] == 'X')
      entries_.erase(k.path);
    else
      entries_[k.path] = entry{k, journal_outcome(parts[0][0]), {}};
  }
  // Each version's outputs are those still claimed by it.
  for (auto& [output, c] : claims_)
    if (auto e = entries_.find(c.input);
        e != entries_.end() && e->second.key.hash == c.input_hash)
      e->second.outputs.push_back(output);
  if (::ftruncate(fd_, off_t(keep)) != 0 || ::lseek(fd_, 0, SEEK_END) < 0)
    throw std::runtime_error(fmt::format("cannot repair journal {}: {}",
                                         file_.string(), std::strerror(errno)));
  // An empty journal gets its format line with its first entry, in the
  // same write.
  fresh_ = keep == 0;
  ::fsync(dir_fd_);
}

void journal::upgrade() {
  // Outputs first: a claim follows its input's version by hash.
  for (auto it = claims_.begin(); it != claims_.end();) {
    auto& c = it->second;
    std::uint64_t fnv = 0;
    auto out = hashed_key(c.key.path, &fnv, O_NOFOLLOW);
    auto input = entries_.find(c.input);
    if (!out || out->size != c.key.size || fnv != c.key.hash) {
      it = claims_.erase(it); // changed or gone: no longer this input's
      continue;
    }
    c.key.hash = out->hash;
    if (input != entries_.end() && input->second.key.hash == c.input_hash) {
      auto key = rehashed(input->second.key);
      c.input_hash = key ? key->hash : 0;
    }
    ++it;
  }
  rehash_all(entries_);
  if (!compact())
    throw std::runtime_error(fmt::format(
      "cannot rewrite journal {} in format 2 (its hashes from XXH3)",
      file_.string()));
  legacy_ = false;
}

journal::~journal() {
  if (crash_log_ >= 0 && crash_fd.load() == crash_log_)
    crash_fd = -1;
  if (crash_log_ >= 0)
    ::close(crash_log_);
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

void journal::count_crash() {
  for (auto& [path, key] : open_) {
    auto& c = crashes_[path];
    if (!(c.key == key))
      c = start{key, 0};
    ++c.crashes;
  }
  open_.clear();
}

void journal::started(const file_key& key) {
  std::lock_guard<std::mutex> guard{mutex_};
  append_crash_log(line_of(key, 'S'));
  open_[key.path] = key;
}

int journal::crashed_with(const file_key& key) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = crashes_.find(key.path);
  return it == crashes_.end() || !(it->second.key == key)
           ? 0
           : it->second.crashes;
}


void journal::mark_crashes() {
  std::lock_guard<std::mutex> guard{mutex_};
  crash_fd = crash_log_;
  static std::once_flag installed;
  std::call_once(installed, [] {
    struct sigaction action{};
    action.sa_handler = on_fatal_signal;
    action.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT})
      ::sigaction(sig, &action, nullptr);
  });
}

void journal::append(const std::string& line, bool sync) {
  const std::string text = fresh_ ? format_line + line : line;
  const char* p = text.data();
  size_t left = text.size();
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
  fresh_ = false;
  ++lines_;
}

void journal::record(const file_key& key, journal_outcome outcome,
                     const std::vector<output_key>& outputs) {
  std::lock_guard<std::mutex> guard{mutex_};
  // The outputs first, unsynced: the outcome's sync takes them along, and
  // a crash before it leaves claims without an outcome, which only keep
  // their names.
  entry e{key, outcome, {}};
  for (auto& out : outputs) {
    append(output_line(key.path, key.hash, out), false);
    claims_[out.path] = claim{key.path, key.hash, out};
    e.outputs.push_back(out.path);
  }
  append(line_of(key, char(outcome)));
  entries_[key.path] = std::move(e);
  if (open_.erase(key.path) > 0)
    append_crash_log(line_of(key, 'E'));
  crashes_.erase(key.path);
  if (lines_ > 1024 && lines_ > 2 * (entries_.size() + claims_.size()))
    compact();
}

std::vector<std::pair<std::string, std::string>> journal::claims() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<std::pair<std::string, std::string>> result;
  for (auto& [output, c] : claims_)
    result.emplace_back(output, c.input);
  return result;
}

std::string journal::check_outputs(const file_key& key) const {
  std::vector<output_key> expected;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    auto it = entries_.find(key.path);
    if (it == entries_.end() || !(it->second.key == key)
        || it->second.outcome != journal_outcome::done)
      return "the journal does not record this version as done";
    for (auto& output : it->second.outputs) {
      auto c = claims_.find(output);
      if (c == claims_.end())
        return fmt::format("its output {} is not in the journal", output);
      if (c->second.input != key.path || c->second.input_hash != key.hash)
        return fmt::format("its output {} was written since for {}", output,
                           c->second.input);
      expected.push_back(c->second.key);
    }
  }
  if (expected.empty())
    return "the journal lists no output written for it";
  // Read outside the lock: outputs may be large.
  for (auto& want : expected) {
    auto have = output_key_of(want.path);
    if (!have)
      return fmt::format("its output {} is missing (or not a regular file)",
                         want.path);
    if (have->size != want.size || have->hash != want.hash)
      return fmt::format("its output {} is not the file written for it "
                         "({} bytes, {} recorded)",
                         want.path, have->size, want.size);
  }
  return {};
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

bool journal::compact() {
  // Write the live entries to a new file, sync it, and rename it over the
  // old log: a crash leaves either the old log or the new one. Both names
  // are relative to the state folder's descriptor.
  const char* tmp = "journal.log.compact";
  std::string text = format_line;
  for (auto& [output, c] : claims_)
    text += output_line(c.input, c.input_hash, c.key);
  for (auto& [path, e] : entries_)
    text += line_of(e.key, char(e.outcome));

  ::unlinkat(dir_fd_, tmp, 0);
  int fd = ::openat(dir_fd_, tmp,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return false;
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size())
            && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::renameat(dir_fd_, tmp, dir_fd_, "journal.log") != 0) {
    ::unlinkat(dir_fd_, tmp, 0);
    return false;
  }
  ::fsync(dir_fd_);
  ::close(fd_);
  fd_ = ::openat(dir_fd_, "journal.log",
                 O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  lines_ = claims_.size() + entries_.size();
  fresh_ = false;
  return true;
}

} // namespace pixline
