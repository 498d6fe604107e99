#include "actors/process/worker_process.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <span>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <glib.h>
#include <spdlog/spdlog.h>

#include "actors/io/loader.hpp"
#include "pipeline/job.hpp"
#include "pipeline/safe_fs.hpp"
#include "actors/net/recipes.hpp"
#include "actors/net/wire.hpp"

extern char** environ;

namespace fs = std::filesystem;

namespace pixline {

namespace {

using json = nlohmann::json;
using clock = std::chrono::steady_clock;

[[noreturn]] void fail(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

/// `fd` moved to a number above the standard ones, close-on-exec.
unique_fd above_stdio(unique_fd fd) {
  if (fd.get() > 9)
    return fd;
  unique_fd moved{::fcntl(fd.get(), F_DUPFD_CLOEXEC, 10)};
  if (!moved)
    fail("fcntl");
  return moved;
}

/// How a reaped process ended, in words.
std::string ended(int status) {
  if (WIFSIGNALED(status)) {
    auto* abbrev = ::sigabbrev_np(WTERMSIG(status));
    return abbrev ? fmt::format("SIG{}", abbrev)
                  : fmt::format("signal {}", WTERMSIG(status));
  }
  if (WIFEXITED(status))
    return fmt::format("exit status {}", WEXITSTATUS(status));
  return "stopped";
}

/// Lines of worker output logged per image before the rest is only counted.
constexpr int logged_lines = 20;

} // namespace

fs::path scratch_parent() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? fs::path(tmp) : fs::path("/tmp");
}

std::size_t remove_stale_scratch() {
  std::size_t removed = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(scratch_parent(), ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    auto name = it->path().filename().string();
    constexpr std::string_view prefix = "pixline-worker-";
    if (!name.starts_with(prefix))
      continue;
    auto dash = name.find('-', prefix.size());
    if (dash == std::string::npos)
      continue;
    pid_t pid = 0;
    try {
      pid = pid_t(std::stol(name.substr(prefix.size(), dash - prefix.size())));
    } catch (const std::exception&) {
      continue;
    }
    // Our own user's real folder (not a symlink), of a run that is gone.
    struct stat st{};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)
        || st.st_uid != ::geteuid() || pid <= 0
        || ::kill(pid, 0) == 0 || errno != ESRCH)
      continue;
    std::error_code gone;
    if (fs::remove_all(it->path(), gone) > 0 && !gone)
      ++removed;
  }
  return removed;
}

bool says_out_of_memory(const std::string& text) {
  for (auto* mark : {"failed to allocate", "out of memory", "bad_alloc",
                     "Cannot allocate memory", "memory allocation failed"})
    if (text.find(mark) != std::string::npos)
      return true;
  return false;
}

worker_process::worker_process(worker_process_settings settings)
    : settings_(std::move(settings)) {
  if (settings_.stages.empty())
    settings_.stages = {"load"};
  status_fd_ = unique_fd{::memfd_create("pixline-worker-status", MFD_CLOEXEC)};
  if (!status_fd_ || ::ftruncate(status_fd_.get(), 4096) != 0)
    fail("memfd_create");
  void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
                      status_fd_.get(), 0);
  if (page == MAP_FAILED)
    fail("mmap");
  status_ = new (page) std::atomic<int>(0);
  last_used_ = clock::now();
  if (settings_.start_now)
    try {
      start();
    } catch (const std::exception& e) {
      // Reported with the first image, which cannot be worked on.
      spdlog::debug("cannot start a worker process: {}", e.what());
    }
  if (settings_.idle_stop > 0)
    idle_stopper_ = std::thread([this] { stop_when_idle(); });
}

worker_process::~worker_process() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  idle_changed_.notify_all();
  if (idle_stopper_.joinable())
    idle_stopper_.join();
  stop(false);
  if (status_)
    ::munmap(status_, 4096);
}

void worker_process::used() {
  last_used_ = clock::now();
  idle_changed_.notify_all();
}

void worker_process::stop_when_idle() {
  auto idle = std::chrono::duration_cast<clock::duration>(
    std::chrono::duration<double>(settings_.idle_stop));
  std::unique_lock lock(mutex_);
  while (!closing_) {
    // Images in flight first: while there are any, the thread that submits
    // and collects them alone touches the process.
    if (outstanding_ > 0 || !pid_) {
      idle_changed_.wait(lock);
      continue;
    }
    auto deadline = last_used_ + idle;
    if (clock::now() < deadline) {
      idle_changed_.wait_until(lock, deadline);
      continue;
    }
    auto pid = pid_;
    // Its link closes: it leaves at once, between two images.
    auto how = stop(false);
    spdlog::debug("worker process {} stopped after {} s without an image ({})",
                  pid, settings_.idle_stop, how);
  }
}

void worker_process::start() {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    fail("socketpair");
  unique_fd mine{pair[0]};
  auto theirs = above_stdio(unique_fd{pair[1]});
  int err[2];
  if (::pipe2(err, O_CLOEXEC) != 0)
    fail("pipe2");
  unique_fd err_read{err[0]};
  auto err_write = above_stdio(unique_fd{err[1]});
  ::fcntl(err_read.get(), F_SETFL, O_NONBLOCK);

  // Named after pixline's pid, so a later run can tell a dead run's folder
  // (remove_stale_scratch).
  auto tmp_template = fmt::format("{}/pixline-worker-{}-XXXXXX",
                                  scratch_parent().string(), ::getpid());
  if (!::mkdtemp(tmp_template.data()))
    fail("cannot make the worker's scratch folder");
  scratch_ = tmp_template;

  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv{*e};
    if (kv.starts_with("PIXLINE_WORKER_") || kv.starts_with("TMPDIR="))
      continue;
    env.emplace_back(kv);
  }
  env.push_back("PIXLINE_WORKER_SOCKET=3");
  env.push_back(fmt::format("PIXLINE_WORKER_PARENT={}", ::getpid()));
  env.push_back("TMPDIR=" + scratch_);
  std::vector<char*> envp;
  for (auto& kv : env)
    envp.push_back(kv.data());
  envp.push_back(nullptr);
  std::string arg0 = "pixline-worker";
  char* argv[] = {arg0.data(), nullptr};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
  posix_spawn_file_actions_adddup2(&actions, theirs.get(), 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group: a Ctrl-C at the terminal is pixline's to handle
  // (finish the images in flight), not the workers'.
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, defaults;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigemptyset(&defaults);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT})
    sigaddset(&defaults, s);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
                                    | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, settings_.executable.c_str(), &actions, &attr,
                         argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    std::error_code ec;
    fs::remove_all(scratch_, ec);
    throw std::system_error(rc, std::generic_category(),
                            "cannot start a worker process");
  }
  pid_ = pid;
  ++started_;
  spdlog::debug("worker process {} started", pid_);
  socket_ = std::move(mine);
  stderr_ = std::move(err_read);
  stderr_open_ = true;
  status_->store(0);
  json setup{{"mode", settings_.mode},
             {"recipe", settings_.recipe},
             {"plugins", settings_.plugins},
             {"vips_concurrency", settings_.vips_concurrency},
             {"vips_cache", settings_.vips_cache},
             {"memory_mib", settings_.memory_mib},
             {"scratch", scratch_},
             {"sandbox", settings_.sandbox},
             {"file_names", settings_.file_names}};
  send_message(socket_.get(), setup.dump(), {status_fd_.get()});
  if (settings_.files)
    for (auto& file : *settings_.files)
      send_message(socket_.get(), "file", {file.get()});
}

void worker_process::await_ready() {
  auto limit = clock::now() + std::chrono::seconds(60);
  pollfd fds[2] = {{socket_.get(), POLLIN, 0}, {stderr_.get(), POLLIN, 0}};
  for (;;) {
    if (!stderr_open_)
      fds[1].fd = -1;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      limit - clock::now());
    if (left.count() <= 0) {
      stop(true);
      throw std::runtime_error("a worker process did not start within 60 s");
    }
    if (::poll(fds, 2, int(left.count())) < 0 && errno != EINTR)
      fail("poll");
    if (fds[1].revents)
      drain_stderr();
    if (!fds[0].revents)
      continue;
    channel_message m;
    if (!receive_message(socket_.get(), m)) {
      drain_stderr();
      auto how = stop(false);
      throw std::runtime_error(
        fmt::format("a worker process ended as it started ({}){}", how,
                    last_line_.empty() ? "" : ": " + last_line_));
    }
    auto reply = json::parse(m.text);
    if (reply.contains("error")) {
      stop(false);
      throw std::runtime_error(reply["error"].get<std::string>());
    }
    static std::atomic<bool> warned{false};
    auto warnings = reply.value("warnings", std::vector<std::string>{});
    if (!warnings.empty() && !warned.exchange(true))
      for (auto& w : warnings)
        spdlog::warn("worker process sandbox: {}", w);
    spdlog::debug("worker process {} ready (Landlock ABI {}, seccomp {})",
                  pid_, reply.value("landlock", 0), reply.value("seccomp", false));
    ready_ = true;
    return;
  }
}

std::string worker_process::stop(bool kill) {
  if (!pid_)
    return {};
  socket_.reset();
  if (kill)
    ::kill(pid_, SIGKILL);
  int status = 0;
  // A worker whose link closed leaves at once; one that does not within a
  // second is stopped.
  auto limit = clock::now() + std::chrono::seconds(1);
  pid_t r;
  while ((r = ::waitpid(pid_, &status, WNOHANG)) == 0) {
    if (clock::now() > limit) {
      ::kill(pid_, SIGKILL);
      r = ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  pid_ = 0;
  ready_ = false;
  stderr_.reset();
  std::error_code ec;
  fs::remove_all(scratch_, ec);
  return r > 0 ? ended(status) : "gone";
}

void worker_process::drain_stderr() {
  if (!stderr_)
    return;
  char buf[4096];
  int lines = 0;
  std::size_t unlogged = 0;
  for (;;) {
    auto n = ::read(stderr_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0) {
      // Closed by the worker: nothing more will come, and polling it would
      // report the hang-up again at once, for ever.
      stderr_open_ = false;
      break;
    }
    if (n < 0)
      break;
    stderr_tail_.append(buf, std::size_t(n));
    std::size_t start = 0, end;
    while ((end = stderr_tail_.find('\n', start)) != std::string::npos) {
      std::string line = stderr_tail_.substr(start, end - start);
      start = end + 1;
      if (line.empty())
        continue;
      if (line.size() > 300)
        line = line.substr(0, 300) + "...";
      last_line_ = line;
      if (lines++ < logged_lines)
        spdlog::debug("worker process {}: {}", pid_, line);
      else
        unlogged += line.size();
    }
    stderr_tail_.erase(0, start);
    if (stderr_tail_.size() > 4096)
      stderr_tail_.erase(0, stderr_tail_.size() - 4096);
  }
  if (!stderr_tail_.empty()) {
    last_line_ = stderr_tail_.substr(0, 300);
  }
  if (unlogged > 0)
    spdlog::debug("worker process {}: {} more bytes of output not logged",
                  pid_, unlogged);
}

int worker_process::stage_index() const {
  int i = status_ ? status_->load() : 0;
  if (i < 0 || std::size_t(i) >= settings_.stages.size())
    i = 0;
  return i;
}

void worker_process::clear_output() {
  last_line_.clear();
  stderr_tail_.clear();
}

std::optional<channel_message>
worker_process::exchange(const std::string& request, int fd,
                         worker_result& failure, bool& crashed) {
  clear_output();
  status_->store(0);
  auto start = clock::now();
  try {
    send_message(socket_.get(), request, {fd});
  } catch (const std::system_error&) {
    // The worker is gone: reported by await_reply() as its crash.
  }
  return await_reply(start, failure, crashed);
}

std::optional<channel_message>
worker_process::await_reply(clock::time_point start, worker_result& failure,
                            bool& crashed) {
  bool interrupted = false;
  return await_reply(start, failure, crashed, -1, {}, interrupted);
}

std::optional<channel_message>
worker_process::await_reply(clock::time_point start, worker_result& failure,
                            bool& crashed, int wake,
                            const std::function<bool()>& woken,
                            bool& interrupted) {
  crashed = false;
  interrupted = false;
  pollfd fds[3] = {{socket_.get(), POLLIN, 0},
                   {stderr_.get(), POLLIN, 0},
                   {wake, POLLIN, 0}};
  auto timeout = std::chrono::duration<double>(settings_.image_timeout);
  while (socket_) {
    if (!stderr_open_)
      fds[1].fd = -1;
    int wait_ms = -1;
    if (settings_.image_timeout > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        start + timeout - clock::now());
      wait_ms = int(std::max<std::int64_t>(0, left.count()));
    }
    int n = ::poll(fds, 3, wait_ms);
    if (n < 0 && errno == EINTR)
      continue;
    // A reply already there is read first.
    if (fds[2].revents && !fds[0].revents && woken()) {
      interrupted = true;
      return std::nullopt;
    }
    if (n == 0) {
      failure.stage_index = stage_index();
      failure.stage = settings_.stages[std::size_t(failure.stage_index)];
      stop(true);
      failure.error = fmt::format("timed out after {} s in {}",
                                  settings_.image_timeout, failure.stage);
      return std::nullopt;
    }
    if (fds[1].revents)
      drain_stderr();
    if (!fds[0].revents)
      continue;
    channel_message m;
    if (!receive_message(socket_.get(), m))
      break;
    return m;
  }
  // The worker died under the image.
  failure.stage_index = stage_index();
  failure.stage = settings_.stages[std::size_t(failure.stage_index)];
  drain_stderr();
  auto how = stop(false);
  if (settings_.memory_mib > 0 && says_out_of_memory(stderr_tail_ + last_line_)) {
    failure.error = fmt::format("over worker memory limit ({} MiB) in {}",
                                settings_.memory_mib, failure.stage);
    return std::nullopt;
  }
  crashed = true;
  failure.error = fmt::format("worker crashed ({}) in {}{}", how, failure.stage,
                              last_line_.empty() ? "" : ": " + last_line_);
  return std::nullopt;
}

void worker_process::read_error(const json& reply, worker_result& r) {
  r.error = reply.value("error", "");
  r.stage_index = int(std::min<std::size_t>(reply.value("stage", 0u),
                                            settings_.stages.size() - 1));
  r.stage = settings_.stages[std::size_t(r.stage_index)];
  if (reply.value("exhausted", false)) {
    if (settings_.memory_mib > 0)
      r.error = fmt::format("over worker memory limit ({} MiB) in {}: {}",
                            settings_.memory_mib, r.stage, r.error);
    stop(false);
  }
}

worker_result worker_process::read_reply(const job& j,
                                         const channel_message& m) {
  worker_result r;
  // The JSON, then, after a NUL, the outputs' bytes when they were small
  // enough to come in the message (JSON text has no NUL of its own).
  auto nul = m.text.find('\0');
  std::string_view text = m.text;
  std::string_view inline_bytes;
  if (nul != std::string::npos) {
    text = text.substr(0, nul);
    inline_bytes = std::string_view(m.text).substr(nul + 1);
  }
  auto reply = json::parse(text);
  read_error(reply, r);
  r.error = replaced(r.error, std::string(input_marker), j.path);
  r.stage_ns = reply.value("times", std::vector<std::uint64_t>{});
  if (!r.error.empty())
    return r;
  std::unique_ptr<mapped_file> mapped;
  std::span<const unsigned char> bytes;
  if (!m.fds.empty()) {
    mapped = std::make_unique<mapped_file>(m.fds[0].get());
    bytes = {mapped->data(), mapped->size()};
  } else if (nul != std::string::npos) {
    bytes = {reinterpret_cast<const unsigned char*>(inline_bytes.data()),
             inline_bytes.size()};
  }
  for (auto& o : reply.at("outputs")) {
    wire_output out;
    out.format = o.at("format").get<std::string>();
    out.width = o.at("width").get<std::int32_t>();
    out.height = o.at("height").get<std::int32_t>();
    out.error = replaced(o.value("error", ""), std::string(input_marker),
                         j.path);
    auto offset = o.at("offset").get<std::size_t>();
    auto size = o.at("size").get<std::size_t>();
    if (size > 0) {
      if (offset > bytes.size() || size > bytes.size() - offset)
        throw std::runtime_error("a worker process sent outputs it did not "
                                 "attach");
      out.bytes.assign(bytes.data() + offset, bytes.data() + offset + size);
    }
    r.outputs.push_back(std::move(out));
  }
  return r;
}

wire_result worker_process::run_node(const wire_job& in) {
  in_flight image{*this};
  for (int tries = 0;; ++tries) {
    wire_result result;
    worker_result failure;
    bool crashed = false;
    try {
      if (!pid_)
        start();
      if (!ready_)
        await_ready();
      auto bytes = serialized(in);
      auto fd = memfd_with("pixline-job", bytes.data(), bytes.size());
      auto m = exchange("{}", fd.get(), failure, crashed);
      if (m) {
        read_error(json::parse(m->text), failure);
        if (failure.error.empty() && !m->fds.empty()) {
          mapped_file reply(m->fds[0].get());
          deserialize(reply.data(), reply.size(), result);
          return result;
        }
        if (failure.error.empty())
          failure.error = "a worker process sent no result";
      }
    } catch (const std::exception& e) {
      failure.error = e.what();
    }
    if (!crashed || tries >= settings_.crash_retries) {
      result.error = failure.error;
      return result;
    }
    spdlog::warn("{}: {}; trying it again in a fresh worker process", in.name,
                 failure.error);
  }
}

worker_result worker_process::run(const job& j) {
  submit(j);
  return collect();
}

void worker_process::submit(const job& j) {
  std::lock_guard lock(mutex_);
  ++outstanding_;
  request r;
  r.j = &j;
  queue_.push_back(std::move(r));
  send_queued();
}

void worker_process::send_queued() {
  for (auto& r : queue_) {
    if (r.sent || r.failed)
      continue;
    const job& j = *r.j;
    try {
      if (!pid_)
        start();
      if (!ready_)
        await_ready();
      int checked = j.input_file ? j.input_file->get() : -1;
      check_input_file(j.path, settings_.max_file_mib, checked);
      // The file the source checked when it opened one, never the path.
      unique_fd input = checked >= 0
                          ? reopen_read(checked)
                          : unique_fd{::open(j.path.c_str(),
                                             O_RDONLY | O_CLOEXEC | O_NONBLOCK
                                               | O_NOCTTY)};
      if (!input)
        throw std::runtime_error(
          fmt::format("cannot open: {}", std::strerror(errno)));
      // The name relative to the input root, for stages that read it
      // ({stem} in a text stage, say), exactly: base64, as it may not be
      // UTF-8.
      std::unique_ptr<gchar, decltype(&g_free)> relative(
        g_base64_encode(reinterpret_cast<const guchar*>(j.relative.data()),
                        j.relative.size()),
        &g_free);
      json message{{"id", j.id}, {"relative", relative.get()}};
      // The first request of an idle worker starts its deadline now; the
      // next ones when the worker replies for the one before.
      bool idle = std::none_of(queue_.begin(), queue_.end(),
                               [](const request& q) { return q.sent; });
      if (idle) {
        clear_output();
        status_->store(0);
        head_started_ = clock::now();
      }
      r.sent = true;
      try {
        send_message(socket_.get(), message.dump(), {input.get()});
      } catch (const std::system_error&) {
        // The worker is gone: collect() finds it dead and takes the
        // oldest sent request for the one it crashed under.
      }
    } catch (const std::exception& e) {
      worker_result failure;
      failure.error = e.what();
      failure.stage = settings_.stages.front();
      r.failed = std::move(failure);
    }
  }
}

void worker_process::requeue() {
  for (auto& r : queue_)
    r.sent = false;
}

worker_result worker_process::collect() {
  return *collect(-1, {});
}

std::optional<worker_result>
worker_process::collect(int wake, const std::function<bool()>& woken) {
  auto result = collect_one(wake, woken);
  if (result) {
    std::lock_guard lock(mutex_);
    --outstanding_;
    used();
  }
  return result;
}

std::optional<worker_result>
worker_process::collect_one(int wake, const std::function<bool()>& woken) {
  for (;;) {
    auto& r = queue_.front();
    if (!r.sent && !r.failed)
      send_queued();
    if (r.failed) {
      auto result = std::move(*r.failed);
      queue_.pop_front();
      return result;
    }
    worker_result result;
    bool crashed = false;
    bool interrupted = false;
    try {
      auto m = await_reply(head_started_, result, crashed, wake, woken,
                           interrupted);
      if (interrupted)
        return std::nullopt;
      if (m) {
        result = read_reply(*r.j, *m);
        queue_.pop_front();
        // The worker started on the next request as it sent this reply.
        clear_output();
        head_started_ = clock::now();
        if (!pid_)
          requeue(); // it left after running out of memory
        return result;
      }
    } catch (const std::exception& e) {
      result.error = e.what();
      if (result.stage.empty())
        result.stage = settings_.stages.front();
      queue_.pop_front();
      return result;
    }
    // The worker is gone; the requests after this one were never read.
    if (queue_.size() > 1)
      spdlog::debug("{}: {}; the {} image(s) after it go to a fresh worker "
                    "process",
                    r.j->path, result.error, queue_.size() - 1);
    requeue();
    if (crashed && r.crashes < settings_.crash_retries) {
      ++r.crashes;
      spdlog::warn("{}: {}; trying it again in a fresh worker process",
                   r.j->path, result.error);
      continue;
    }
    queue_.pop_front();
    return result;
  }
}

} // namespace pixline
