#include "pipeline/journal.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <csignal>
#include <memory>
#include <mutex>
#include <new>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fcntl.h>
#include <malloc.h>
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


journal::path_id id_of(std::string_view path) {
  auto h = XXH3_128bits(path.data(), path.size());
  return {h.low64, h.high64};
}

/// A journal line's fields. D, F, X: `size`, `mtime_ns`, `hash` and `path`
/// are the input version's. O: `size` and `hash` are the output's, `path`
/// the output and `input`, `input_hash` its input's version.
struct line_fields {
  char kind = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t hash = 0;
  std::uint64_t input_hash = 0;
  std::string path;
  std::string input;
};

template <typename T>
bool number(std::string_view s, T& value, int base = 10) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
  return ec == std::errc{} && end == s.data() + s.size() && !s.empty();
}

/// Parses a line (without its newline); nothing when it is not one.
std::optional<line_fields> parse_line(std::string_view line) {
  std::string_view parts[4];
  std::size_t start = 0;
  for (auto& part : parts) {
    auto tab = line.find('\t', start);
    if (tab == std::string_view::npos)
      return std::nullopt;
    part = line.substr(start, tab - start);
    start = tab + 1;
  }
  if (parts[0].size() != 1)
    return std::nullopt;
  line_fields f;
  f.kind = parts[0][0];
  auto rest = line.substr(start);
  if (f.kind == 'O') {
    auto tab = rest.find('\t');
    if (tab == std::string_view::npos || !number(parts[1], f.size)
        || !number(parts[2], f.hash, 16) || !number(parts[3], f.input_hash, 16))
      return std::nullopt;
    f.input = unescape(std::string(rest.substr(0, tab)));
    f.path = unescape(std::string(rest.substr(tab + 1)));
    return f;
  }
  if (!number(parts[1], f.size) || !number(parts[2], f.mtime_ns)
      || !number(parts[3], f.hash, 16))
    return std::nullopt;
  f.path = unescape(std::string(rest));
  return f;
}

std::runtime_error read_error(const fs::path& path) {
  return std::runtime_error(fmt::format("cannot read journal {}: {}",
                                        path.string(), std::strerror(errno)));
}

/// Calls `f(offset, line)` (the line without its newline; `f` returns
/// false to stop) for each complete line of `fd` from the start, reading a
/// chunk at a time. Returns the offset just after the last complete line.
template <typename F>
std::int64_t for_each_line(int fd, const fs::path& path, F&& f) {
  std::string carry;
  std::vector<char> buf(1 << 20);
  std::int64_t at = 0;       // where `carry` begins in the file
  std::int64_t read_to = 0;  // how far the file was read
  for (;;) {
    auto n = ::pread(fd, buf.data(), buf.size(), read_to);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw read_error(path);
    if (n == 0)
      return at;
    read_to += n;
    carry.append(buf.data(), std::size_t(n));
    std::size_t from = 0;
    for (auto nl = carry.find('\n'); nl != std::string::npos;
         nl = carry.find('\n', from)) {
      if (!f(at, std::string_view(carry).substr(from, nl - from)))
        return at + std::int64_t(nl - from + 1);
      at += std::int64_t(nl - from + 1);
      from = nl + 1;
    }
    carry.erase(0, from);
  }
}

/// Whether the output at `path` is gone (and its name free); not when it
/// cannot be told (a folder that cannot be searched).
bool output_gone(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) != 0
         && (errno == ENOENT || errno == ENOTDIR);
}

/// A new version of a file in a folder, written to a temporary name and
/// renamed over the file only once it is complete and synced: a crash at
/// any moment leaves the old file or the new one, never a mix.
class replacement {
public:
  replacement(int dir_fd, const char* name)
    : dir_fd_(dir_fd), name_(name), tmp_(std::string(name) + ".compact") {
    // A temporary left by a crash is never read: it is replaced.
    ::unlinkat(dir_fd_, tmp_.c_str(), 0);
    fd_ = ::openat(dir_fd_, tmp_.c_str(),
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    ok_ = fd_ >= 0;
  }
  ~replacement() {
    if (fd_ >= 0)
      ::close(fd_);
    if (!done_)
      ::unlinkat(dir_fd_, tmp_.c_str(), 0);
  }
  replacement(const replacement&) = delete;
  replacement& operator=(const replacement&) = delete;

  void add(std::string_view text) {
    buf_.append(text);
    if (buf_.size() >= (1 << 20))
      flush();
  }

  /// Syncs it and renames it over the file; false when anything failed
  /// (the old file is left as it was).
  bool commit() {
    flush();
    if (!ok_ || ::fsync(fd_) != 0)
      return false;
    ::close(fd_);
    fd_ = -1;
    if (::renameat(dir_fd_, tmp_.c_str(), dir_fd_, name_) != 0)
      return false;
    done_ = true;
    ::fsync(dir_fd_);
    return true;
  }

private:
  void flush() {
    const char* p = buf_.data();
    std::size_t left = buf_.size();
    while (ok_ && left > 0) {
      auto n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        ok_ = false;
        break;
      }
      p += n;
      left -= std::size_t(n);
    }
    buf_.clear();
  }

  int dir_fd_;
  const char* name_;
  std::string tmp_;
  std::string buf_;
  int fd_ = -1;
  bool ok_ = false;
  bool done_ = false;
};

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
    upgraded = load();
    prune_claims();
  } catch (...) {
    if (fd_ >= 0)
      ::close(fd_);
    if (dir_fd_ >= 0)
      ::close(dir_fd_);
    throw;
  }
  auto read = lines_;
  compact_if_stale();
  open_crash_log(upgraded);
  // Reading a long log freed as much as it kept (the stale lines'
  // entries, the read buffers): hand that back rather than keep it for
  // the whole watch.
  if (read > 10000)
    ::malloc_trim(0);
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
      auto f = parse_line(line);
      if (!f)
        continue;
      k = file_key{f->path, f->size, f->mtime_ns, f->hash};
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
  for (auto it = crashes_.begin(); it != crashes_.end();) {
    auto& k = it->second.key;
    auto e = entries_.find(id_of(k.path));
    if (e != entries_.end() && e->second.size == k.size
        && e->second.mtime_ns == k.mtime_ns && e->second.hash == k.hash)
      it = crashes_.erase(it);
    else
      ++it;
  }
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

bool journal::load() {
  const std::string_view format{format_line, sizeof format_line - 2};
  bool legacy = false;
  // The O lines just read, of one input version: the outputs of the D or
  // F line that follows, if it is that version's.
  struct run {
    std::int64_t at = 0;
    std::uint32_t count = 0;
    path_id input;
    std::uint64_t input_hash = 0;
  } outputs;
  auto keep = for_each_line(fd_, file_, [&](std::int64_t at,
                                            std::string_view line) {
    if (at == 0) {
      legacy = line != format;
      return !legacy;
    }
    ++lines_;
    auto f = parse_line(line);
    if (!f) {
      outputs.count = 0;
      return true;
    }
    if (f->kind == 'O') {
      auto input = id_of(f->input);
      claims_[id_of(f->path)] = claim{input, f->input_hash, at};
      if (outputs.count > 0 && outputs.input == input
          && outputs.input_hash == f->input_hash)
        ++outputs.count;
      else
        outputs = {at, 1, input, f->input_hash};
      return true;
    }
    auto id = id_of(f->path);
    if (f->kind == 'X') {
      entries_.erase(id);
    } else {
      entry e{f->size, f->mtime_ns, f->hash, at, at, 0,
              journal_outcome(f->kind)};
      if (outputs.count > 0 && outputs.input == id
          && outputs.input_hash == f->hash) {
        e.outputs_at = outputs.at;
        e.outputs = outputs.count;
      }
      entries_[id] = e;
    }
    outputs.count = 0;
    return true;
  });
  if (legacy) {
    auto text = read_all(fd_, file_);
    upgrade(text.substr(0, text.rfind('\n') + 1));
    lines_ = 0;
    entries_.clear();
    claims_.clear();
    load();
    return true;
  }
  // A claim of a version that lies outside that version's own lines was
  // written by a version of pixline that kept them apart, or by hand: the
  // outputs recorded with it cannot be told for sure, so none are, and the
  // original is not deleted or moved before it was processed again.
  for (auto& [output, c] : claims_)
    if (auto e = entries_.find(c.input);
        e != entries_.end() && e->second.hash == c.input_hash
        && (c.at < e->second.outputs_at || c.at >= e->second.at)) {
      e->second.outputs = 0;
      e->second.outputs_at = e->second.at;
    }
  if (::ftruncate(fd_, off_t(keep)) != 0 || ::lseek(fd_, 0, SEEK_END) < 0)
    throw std::runtime_error(fmt::format("cannot repair journal {}: {}",
                                         file_.string(), std::strerror(errno)));
  end_ = keep;
  // An empty journal gets its format line with its first entry, in the
  // same write.
  fresh_ = keep == 0;
  ::fsync(dir_fd_);
  return false;
}

void journal::upgrade(const std::string& text) {
  // Format 1's journals are read whole, with their paths, once.
  struct old_claim {
    std::string input;
    std::uint64_t input_hash = 0;
    output_key key;
  };
  struct old_entry {
    file_key key;
    char outcome = 0;
  };
  std::unordered_map<std::string, old_entry> entries;
  std::unordered_map<std::string, old_claim> claims;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    auto f = parse_line(line);
    if (!f)
      continue;
    if (f->kind == 'O')
      claims[f->path] = old_claim{f->input, f->input_hash,
                                  output_key{f->path, f->size, f->hash}};
    else if (f->kind == 'X')
      entries.erase(f->path);
    else
      entries[f->path] =
        old_entry{file_key{f->path, f->size, f->mtime_ns, f->hash}, f->kind};
  }
  // Outputs first: a claim follows its input's version by hash.
  for (auto it = claims.begin(); it != claims.end();) {
    auto& c = it->second;
    std::uint64_t fnv = 0;
    auto out = hashed_key(c.key.path, &fnv, O_NOFOLLOW);
    if (!out || out->size != c.key.size || fnv != c.key.hash) {
      it = claims.erase(it); // changed or gone: no longer this input's
      continue;
    }
    c.key.hash = out->hash;
    if (auto input = entries.find(c.input);
        input != entries.end() && input->second.key.hash == c.input_hash) {
      auto key = rehashed(input->second.key);
      c.input_hash = key ? key->hash : 0;
    }
    ++it;
  }
  rehash_all(entries);
  // Each version's outputs just before it, the others' first.
  std::unordered_multimap<std::string, const old_claim*> of_input;
  std::string out = format_line;
  for (auto& [output, c] : claims) {
    auto e = entries.find(c.input);
    if (e != entries.end() && e->second.key.hash == c.input_hash)
      of_input.emplace(c.input, &c);
    else
      out += output_line(c.input, c.input_hash, c.key);
  }
  for (auto& [path, e] : entries) {
    auto [from, to] = of_input.equal_range(path);
    for (auto it = from; it != to; ++it)
      out += output_line(path, it->second->input_hash, it->second->key);
    out += line_of(e.key, e.outcome);
  }
  replacement file{dir_fd_, "journal.log"};
  file.add(out);
  int fd = -1;
  if (file.commit())
    fd = ::openat(dir_fd_, "journal.log", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    throw std::runtime_error(fmt::format(
      "cannot rewrite journal {} in format 2 (its hashes from XXH3)",
      file_.string()));
  ::close(fd_);
  fd_ = fd;
}

void journal::prune_claims() {
  auto orphan = [this](const claim& c) {
    auto e = entries_.find(c.input);
    return e == entries_.end() || e->second.hash != c.input_hash;
  };
  if (std::none_of(claims_.begin(), claims_.end(),
                   [&](const auto& c) { return orphan(c.second); }))
    return;
  std::vector<path_id> gone;
  for_each_line(fd_, file_, [&](std::int64_t at, std::string_view line) {
    if (line.empty() || line[0] != 'O')
      return true;
    auto f = parse_line(line);
    if (!f)
      return true;
    auto id = id_of(f->path);
    if (auto c = claims_.find(id); c != claims_.end() && c->second.at == at
                                   && orphan(c->second)
                                   && output_gone(f->path))
      gone.push_back(id);
    return true;
  });
  for (auto& id : gone)
    claims_.erase(id);
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
  auto it = entries_.find(id_of(key.path));
  if (it == entries_.end() || it->second.size != key.size
      || it->second.mtime_ns != key.mtime_ns || it->second.hash != key.hash)
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

std::int64_t journal::append(const std::string& line, bool sync) {
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
  end_ += std::int64_t(text.size());
  return end_ - std::int64_t(line.size());
}

std::string journal::line_at(std::int64_t at) const {
  std::string line;
  char buf[4096];
  for (;;) {
    auto n = ::pread(fd_, buf, sizeof buf, off_t(at + std::int64_t(line.size())));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw read_error(file_);
    std::string_view got{buf, std::size_t(n)};
    if (auto nl = got.find('\n'); nl != std::string_view::npos || n == 0) {
      line.append(got.substr(0, nl));
      return line;
    }
    line.append(got);
  }
}

std::string journal::input_of(const claim& c) const {
  auto f = parse_line(line_at(c.at));
  return f ? f->input : std::string{};
}

void journal::record(const file_key& key, journal_outcome outcome,
                     const std::vector<output_key>& outputs) {
  std::lock_guard<std::mutex> guard{mutex_};
  // The outputs first, unsynced: the outcome's sync takes them along, and
  // a crash before it leaves claims without an outcome, which only keep
  // their names.
  auto id = id_of(key.path);
  std::int64_t outputs_at = -1;
  for (auto& out : outputs) {
    auto at = append(output_line(key.path, key.hash, out), false);
    if (outputs_at < 0)
      outputs_at = at;
    claims_[id_of(out.path)] = claim{id, key.hash, at};
  }
  auto at = append(line_of(key, char(outcome)));
  entries_[id] = entry{key.size,
                       key.mtime_ns,
                       key.hash,
                       at,
                       outputs_at < 0 ? at : outputs_at,
                       std::uint32_t(outputs.size()),
                       outcome};
  if (open_.erase(key.path) > 0)
    append_crash_log(line_of(key, 'E'));
  crashes_.erase(key.path);
  compact_if_stale();
}

std::vector<std::pair<std::string, std::string>> journal::claims() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<std::pair<std::string, std::string>> result;
  for_each_line(fd_, file_, [&](std::int64_t at, std::string_view line) {
    if (line.empty() || line[0] != 'O')
      return true;
    if (auto f = parse_line(line)) {
      auto c = claims_.find(id_of(f->path));
      if (c != claims_.end() && c->second.at == at)
        result.emplace_back(std::move(f->path), std::move(f->input));
    }
    return true;
  });
  return result;
}

std::optional<std::string> journal::owner_of(const std::string& output,
                                             const std::string& input) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto c = claims_.find(id_of(output));
  if (c == claims_.end() || c->second.input == id_of(input)
      || output_gone(output))
    return std::nullopt;
  return input_of(c->second);
}

std::string journal::check_outputs(const file_key& key) const {
  std::vector<output_key> expected;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    auto id = id_of(key.path);
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.size != key.size
        || it->second.mtime_ns != key.mtime_ns || it->second.hash != key.hash
        || it->second.outcome != journal_outcome::done)
      return "the journal does not record this version as done";
    auto& e = it->second;
    if (e.outputs == 0)
      return "the journal lists no output written for it";
    // Its output lines come just before its own.
    std::string block(std::size_t(e.at - e.outputs_at), '\0');
    if (::pread(fd_, block.data(), block.size(), off_t(e.outputs_at))
        != ssize_t(block.size()))
      throw read_error(file_);
    std::istringstream lines(block);
    std::string line;
    while (std::getline(lines, line)) {
      auto f = parse_line(line);
      if (!f || f->kind != 'O' || f->input != key.path
          || f->input_hash != key.hash)
        return "the journal's lines for it are damaged";
      auto c = claims_.find(id_of(f->path));
      if (c == claims_.end())
        return fmt::format("its output {} is not in the journal", f->path);
      if (c->second.input != id || c->second.input_hash != key.hash)
        return fmt::format("its output {} was written since for {}", f->path,
                           input_of(c->second));
      expected.push_back(output_key{f->path, f->size, f->hash});
    }
  }
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
  if (entries_.erase(id_of(path)) == 0)
    return;
  file_key k;
  k.path = path;
  append(line_of(k, 'X'));
  compact_if_stale();
}

std::size_t journal::lines() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return lines_;
}

std::size_t journal::size() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return entries_.size();
}

std::size_t journal::claim_count() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return claims_.size();
}

bool journal::compact_now() {
  std::lock_guard<std::mutex> guard{mutex_};
  return compact();
}

void journal::compact_if_stale() {
  // Against the lines the last compaction kept too, so a log whose lines
  // are mostly alive is not rewritten at every record.
  auto live = std::max(entries_.size() + claims_.size(), compacted_lines_);
  if (lines_ > 1024 && lines_ > 2 * live)
    compact();
}

bool journal::compact() {
  // The live lines, in their order, into a new file that replaces the log
  // once it is complete and synced (replacement): a crash leaves the old
  // log or the new one. A line is alive when it is an entry's own line,
  // one of the output lines just before it, or an output's latest line
  // (the claim), unless that output is gone and its input forgotten.
  struct block {
    std::int64_t from;
    std::int64_t to;
    path_id input;
    std::int64_t moved_to = -1;
  };
  std::vector<block> blocks;
  for (auto& [id, e] : entries_)
    if (e.outputs > 0)
      blocks.push_back(block{e.outputs_at, e.at, id});
  std::sort(blocks.begin(), blocks.end(),
            [](const block& a, const block& b) { return a.from < b.from; });
  std::vector<std::pair<path_id, std::int64_t>> moved_entries;
  std::vector<std::pair<path_id, std::int64_t>> moved_claims;
  std::vector<path_id> dropped;
  replacement file{dir_fd_, "journal.log"};
  file.add(format_line);
  std::int64_t to = sizeof format_line - 1;
  std::size_t kept = 0;
  std::size_t next = 0;
  try {
    for_each_line(fd_, file_, [&](std::int64_t at, std::string_view line) {
      if (at == 0)
        return true; // the format line
      while (next < blocks.size() && blocks[next].to <= at)
        ++next;
      bool in_block = next < blocks.size() && blocks[next].from <= at;
      auto f = parse_line(line);
      if (!f)
        return true;
      auto id = id_of(f->path);
      bool keep = false;
      if (f->kind == 'O') {
        auto c = claims_.find(id);
        bool latest = c != claims_.end() && c->second.at == at;
        if (latest && !in_block) {
          auto e = entries_.find(c->second.input);
          bool forgotten = e == entries_.end()
                           || e->second.hash != c->second.input_hash;
          if (forgotten && output_gone(f->path)) {
            dropped.push_back(id);
            latest = false;
          }
        }
        if (latest)
          moved_claims.emplace_back(id, to);
        if (in_block && blocks[next].moved_to < 0)
          blocks[next].moved_to = to;
        keep = latest || in_block;
      } else if (f->kind == 'D' || f->kind == 'F') {
        auto e = entries_.find(id);
        keep = e != entries_.end() && e->second.at == at;
        if (keep)
          moved_entries.emplace_back(id, to);
      }
      if (keep) {
        file.add(line);
        file.add("\n");
        to += std::int64_t(line.size() + 1);
        ++kept;
      }
      return true;
    });
  } catch (const std::exception&) {
    return false;
  }
  if (!file.commit())
    return false;
  int fd = ::openat(dir_fd_, "journal.log",
                    O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  ::close(fd_);
  fd_ = fd; // a failed open fails the next append, which stops the watch
  for (auto& [id, at] : moved_entries) {
    auto& e = entries_[id];
    e.at = e.outputs_at = at;
  }
  for (auto& b : blocks)
    entries_[b.input].outputs_at = b.moved_to;
  for (auto& [id, at] : moved_claims)
    claims_[id].at = at;
  for (auto& id : dropped)
    claims_.erase(id);
  lines_ = kept;
  compacted_lines_ = kept;
  end_ = to;
  fresh_ = false;
  return true;
}

} // namespace pixline
