#include "actors/run/queue_source.hpp"
#include "actors/run/stages.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "actors/io/writer.hpp"
#include "actors/run/inputs.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace pixline {

unique_fd check_queue_path(const safe_dir& root, const std::string& message) {
  auto refuse = [&](const std::string& why) -> unique_fd {
    throw unsafe_path(fmt::format("refused message \"{}\": {}",
                                  message.substr(0, 200), why));
  };
  if (message.empty())
    return refuse("an empty path");
  if (message.size() > 4096)
    return refuse("a path over 4096 bytes");
  for (unsigned char c : message)
    if (c < 0x20 || c == 0x7f)
      return refuse("a control character in the path");
  if (message.front() == '/')
    return refuse("an absolute path (paths are relative to the queue's root)");
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= message.size()) {
    auto slash = message.find('/', start);
    auto part = message.substr(start, slash == std::string::npos
                                        ? std::string::npos
                                        : slash - start);
    if (part.empty() || part == "." || part == "..")
      return refuse("an empty, \".\" or \"..\" path component");
    if (part.front() == '.')
      return refuse("a hidden file or folder (pixline's own temporary files "
                    "are hidden)");
    parts.push_back(part);
    if (slash == std::string::npos)
      break;
    start = slash + 1;
  }
  fs::path folder;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i)
    folder /= parts[i];
  auto name = parts.back();
  auto full = (root.path() / message).string();
  // Throws unsafe_path for a symlink on the way.
  auto dir = root.open_below(folder, false);
  if (!dir)
    throw std::runtime_error(fmt::format("{}: no such folder", full));
  unique_fd fd{::openat(dir->fd(), name.c_str(),
                        O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK
                          | O_NOCTTY)};
  if (!fd) {
    int err = errno;
    struct stat st{};
    if (err == ELOOP
        || (::fstatat(dir->fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0
            && S_ISLNK(st.st_mode)))
      throw unsafe_path(
        fmt::format("refusing to follow symlink {}", full));
    throw std::runtime_error(
      fmt::format("{}: cannot open: {}", full, std::strerror(err)));
  }
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    throw unsafe_path(fmt::format("{}: not a regular file", full));
  return fd;
}

namespace {

std::string this_worker() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return fmt::format("{}:{}", host, ::getpid());
}

/// Flushes folders so the renames of outputs into them are durable.
void flush_folders(const std::set<std::string>& folders) {
  for (auto& folder : folders) {
    unique_fd fd{::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (fd)
      ::fsync(fd.get());
  }
}

} // namespace

queue_feed::queue_feed(const source_section& source, int prefetch,
                       bool until_empty, std::chrono::milliseconds idle,
                       std::shared_ptr<metrics_registry> metrics)
  : source_(source),
    address_(parse_amqp_url(source.url, source.password_env)),
    names_(queue_names_of(source)), root_path_(source.root),
    prefetch_(std::clamp(prefetch, 1, 65535)), until_empty_(until_empty),
    idle_(idle), worker_name_(this_worker()), metrics_(std::move(metrics)) {
  if (metrics_)
    queue_metrics_ = &metrics_->queue();
  root_ = safe_dir::open_root(root_path_, false);
  event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_fd_ < 0)
    throw std::runtime_error(
      fmt::format("eventfd: {}", std::strerror(errno)));
}

queue_feed::~queue_feed() {
  shutdown(0ms);
  if (event_fd_ >= 0)
    ::close(event_fd_);
}

void queue_feed::start(std::function<void()> wake) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    wake_ = std::move(wake);
    last_delivery_ = std::chrono::steady_clock::now();
  }
  thread_ = std::thread([this] { run(); });
}

std::optional<job> queue_feed::next() {
  std::lock_guard<std::mutex> guard{mutex_};
  if (ready_.empty())
    return std::nullopt;
  auto j = std::move(ready_.front());
  ready_.pop_front();
  return j;
}

bool queue_feed::closed() const {
  std::lock_guard<std::mutex> guard{mutex_};
  // After stop, what was delivered here still runs; nothing more comes
  // once the consumer is cancelled (or the connection is gone, which
  // returns every unacknowledged message to the queue).
  return stopping_ && (cancelled_ || !connected_) && ready_.empty();
}

void queue_feed::stop() {
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
    wake = wake_;
  }
  poke();
  // Without a connection the feed is closed at once: the flow must look.
  if (wake)
    wake();
}

void queue_feed::count(std::atomic<std::uint64_t> queue_metrics::*counter,
                       std::uint64_t n) {
  if (queue_metrics_ && n > 0)
    (queue_metrics_->*counter).fetch_add(n, std::memory_order_relaxed);
}

void queue_feed::publish_in_flight() {
  if (queue_metrics_)
    queue_metrics_->in_flight.store(
      std::int64_t(deliveries_.size() + outbox_.size() + unconfirmed_.size()),
      std::memory_order_relaxed);
}

void queue_feed::poke() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(event_fd_, &one, sizeof one);
}

queue_outcome queue_feed::finish(job& j) {
  queue_outcome outcome;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    auto it = deliveries_.find(j.id);
    if (it == deliveries_.end())
      return queue_outcome::done;
    auto d = std::move(it->second);
    deliveries_.erase(it);
    // Back in the queue since its connection was lost: another delivery
    // decides.
    bool current = connected_ && d.generation == generation_;
    action a;
    a.generation = d.generation;
    a.tag = d.tag;
    if (!j.failed()) {
      a.kind = action::ack;
      for (auto& out : j.outputs)
        a.folders.push_back(fs::path(out).parent_path().string());
      outcome = queue_outcome::done;
      ++counts_.done;
    } else if (d.refused || d.deliveries >= names_.max_deliveries) {
      a.kind = action::dead;
      a.body = d.body;
      a.headers = {{"x-pixline-error", j.error},
                   {"x-pixline-stage", j.failed_stage},
                   {"x-pixline-deliveries", std::to_string(d.deliveries)},
                   {"x-pixline-worker", worker_name_}};
      j.error = d.refused
                  ? fmt::format("quarantined: {}", j.error)
                  : fmt::format("quarantined after {} deliveries: {}",
                                d.deliveries, j.error);
      outcome = queue_outcome::quarantined;
      ++counts_.quarantined;
    } else {
      a.kind = action::requeue;
      outcome = queue_outcome::retried;
      ++counts_.retried;
      spdlog::warn("{}: failed in stage '{}' (delivery {} of {}), returned "
                   "to the queue: {}",
                   j.path, j.failed_stage, d.deliveries,
                   names_.max_deliveries, j.error);
    }
    if (current)
      outbox_.push_back(std::move(a));
    publish_in_flight();
  }
  poke();
  return outcome;
}

std::string queue_feed::refusal() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return refusal_;
}

queue_counts_done queue_feed::counts() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return counts_;
}

void queue_feed::shutdown(std::chrono::milliseconds grace) {
  if (!thread_.joinable())
    return;
  {
    std::unique_lock<std::mutex> lock{mutex_};
    stopping_ = true;
    poke();
    // Everything finished is sent (acknowledged, returned, dead-lettered
    // and confirmed), unless the broker is away longer than the grace.
    flushed_.wait_for(lock, grace, [this] {
      return outbox_.empty() && unconfirmed_.empty();
    });
    quit_ = true;
  }
  poke();
  thread_.join();
}

void queue_feed::take(const amqp_delivery& m, std::uint64_t generation) {
  job j;
  delivery d;
  d.generation = generation;
  d.tag = m.tag;
  d.body = m.body;
  d.deliveries = m.delivery_count + 1;
  j.relative = m.body;
  j.path = (root_path_ / m.body).string();
  try {
    j.input_file = std::make_shared<const unique_fd>(
      check_queue_path(*root_, m.body));
  } catch (const unsafe_path& e) {
    d.refused = true;
    j.error = e.what();
    j.failed_stage = "queue";
    j.path = m.body;
  } catch (const std::exception& e) {
    j.error = e.what();
    j.failed_stage = "load";
  }
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    j.id = next_id_++;
    deliveries_.emplace(j.id, std::move(d));
    ready_.push_back(std::move(j));
    last_delivery_ = std::chrono::steady_clock::now();
    publish_in_flight();
    wake = wake_;
  }
  count(&queue_metrics::received);
  if (m.delivery_count > 0 || m.redelivered)
    count(&queue_metrics::redelivered);
  if (wake)
    wake();
}

void queue_feed::send(amqp_connection& conn, std::uint64_t generation) {
  std::vector<action> batch;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    batch.swap(outbox_);
  }
  // One flush per folder for a whole batch of acknowledgements.
  std::set<std::string> folders;
  for (auto& a : batch)
    if (a.kind == action::ack && a.generation == generation)
      folders.insert(a.folders.begin(), a.folders.end());
  flush_folders(folders);
  std::uint64_t acked = 0;
  std::uint64_t requeued = 0;
  for (auto& a : batch) {
    // A message of an earlier connection is back in the queue already:
    // the broker delivers it again (to whichever worker), and its outputs
    // are written again, the same bytes under the same names.
    if (a.generation != generation)
      continue;
    switch (a.kind) {
    case action::ack:
      conn.ack(a.tag);
      ++acked;
      break;
    case action::requeue:
      conn.nack_requeue(a.tag);
      ++requeued;
      break;
    case action::dead: {
      auto seq = conn.publish(names_.dead, a.body, a.headers);
      std::lock_guard<std::mutex> guard{mutex_};
      unconfirmed_[seq] = a.tag;
      break;
    }
    }
  }
  count(&queue_metrics::acked, acked);
  count(&queue_metrics::requeued, requeued);
  std::lock_guard<std::mutex> guard{mutex_};
  counts_.acked += acked;
  publish_in_flight();
  if (outbox_.empty() && unconfirmed_.empty())
    flushed_.notify_all();
}

bool queue_feed::idle_and_empty(amqp_connection& conn) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!until_empty_ || drained_ || !ready_.empty() || !deliveries_.empty()
        || !outbox_.empty()
        || std::chrono::steady_clock::now() - last_delivery_ < idle_)
      return false;
  }
  auto counts = conn.counts(names_.work);
  return counts && counts->ready == 0;
}

void queue_feed::serve(amqp_connection& conn, std::uint64_t generation) {
  bool consuming = false;
  bool cancelled = false;
  for (;;) {
    bool stop;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      if (quit_)
        return;
      stop = stopping_;
    }
    if (!consuming && !stop && !cancelled) {
      conn.consume(names_.work);
      consuming = true;
    }
    if (stop && !cancelled) {
      if (consuming)
        conn.cancel();
      consuming = false;
      cancelled = true;
      std::function<void()> wake;
      {
        std::lock_guard<std::mutex> guard{mutex_};
        cancelled_ = true;
        wake = wake_;
      }
      if (wake)
        wake();
    }
    send(conn, generation);
    for (;;) {
      auto ev = conn.wait(0ms);
      if (ev.kind == amqp_connection::event::none)
        break;
      if (ev.kind == amqp_connection::event::delivery) {
        take(ev.message, generation);
      } else if (ev.kind == amqp_connection::event::confirm_ack
                 || ev.kind == amqp_connection::event::confirm_nack) {
        std::vector<std::uint64_t> tags;
        {
          std::lock_guard<std::mutex> guard{mutex_};
          auto end = ev.multiple ? unconfirmed_.upper_bound(ev.seq)
                                 : unconfirmed_.find(ev.seq);
          auto begin = ev.multiple ? unconfirmed_.begin() : end;
          if (!ev.multiple && end != unconfirmed_.end())
            ++end;
          for (auto it = begin; it != end; ++it)
            tags.push_back(it->second);
          unconfirmed_.erase(begin, end);
        }
        for (auto tag : tags) {
          // Confirmed in the dead-letter queue: done with it here. A
          // refused dead letter stays unacknowledged and comes again.
          if (ev.kind == amqp_connection::event::confirm_ack)
            conn.ack(tag);
          else
            conn.nack_requeue(tag);
        }
        if (ev.kind == amqp_connection::event::confirm_ack) {
          count(&queue_metrics::dead_lettered, tags.size());
          count(&queue_metrics::acked, tags.size());
        } else {
          count(&queue_metrics::requeued, tags.size());
        }
        std::lock_guard<std::mutex> guard{mutex_};
        counts_.acked += ev.kind == amqp_connection::event::confirm_ack
                           ? tags.size()
                           : 0;
        publish_in_flight();
        if (outbox_.empty() && unconfirmed_.empty())
          flushed_.notify_all();
      } else if (ev.kind == amqp_connection::event::returned) {
        spdlog::error("the broker could not route a dead letter for \"{}\" "
                      "to {}",
                      ev.message.body, names_.dead);
      }
    }
    if (idle_and_empty(conn)) {
      spdlog::info("queue {} is empty: stopping", names_.work);
      std::function<void()> wake;
      {
        std::lock_guard<std::mutex> guard{mutex_};
        drained_ = true;
        stopping_ = true;
        wake = wake_;
      }
      if (wake)
        wake();
    }
    if (conn.buffered())
      continue;
    pollfd fds[2] = {{conn.fd(), POLLIN, 0}, {event_fd_, POLLIN, 0}};
    ::poll(fds, 2, 250);
    if (fds[1].revents & POLLIN) {
      std::uint64_t n;
      [[maybe_unused]] auto r = ::read(event_fd_, &n, sizeof n);
    }
  }
}

void queue_feed::run() {
  auto pause = 200ms;
  bool lost = false;
  bool connected_once = false;
  for (;;) {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      if (quit_ || drained_ || (stopping_ && deliveries_.empty()
                                && outbox_.empty()))
        break;
    }
    std::uint64_t generation = 0;
    try {
      amqp_connection conn{address_};
      conn.declare(names_);
      conn.confirm_select();
      conn.qos(prefetch_);
      {
        std::lock_guard<std::mutex> guard{mutex_};
        generation = ++generation_;
        connected_ = true;
        if (lost)
          ++counts_.reconnects;
      }
      if (lost)
        count(&queue_metrics::reconnects);
      spdlog::log(lost ? spdlog::level::warn : spdlog::level::info,
                  "{}consuming {} at {} (prefetch {})",
                  lost ? "connected again: " : "", names_.work,
                  address_.shown, prefetch_);
      pause = 200ms;
      connected_once = true;
      serve(conn, generation);
      return;
    } catch (const std::exception& e) {
      auto* refused = dynamic_cast<const amqp_error*>(&e);
      bool give_up = !connected_once && refused && !refused->transient();
      std::function<void()> wake;
      {
        std::lock_guard<std::mutex> guard{mutex_};
        if (give_up) {
          refusal_ = e.what();
          stopping_ = true;
        }
        // What this connection delivered goes back to the queue with it:
        // jobs not started are dropped here, jobs running finish and
        // their acknowledgements are not sent.
        for (auto& j : ready_)
          deliveries_.erase(j.id);
        ready_.clear();
        unconfirmed_.clear();
        std::erase_if(outbox_, [&](const action& a) {
          return a.generation <= generation_;
        });
        connected_ = false;
        publish_in_flight();
        flushed_.notify_all();
        wake = wake_;
      }
      if (wake)
        wake();
      if (give_up)
        return;
      spdlog::warn("{}; trying again in {} ms", e.what(), pause.count());
      lost = true;
    }
    // Waits, but wakes for stop or quit.
    pollfd fd{event_fd_, POLLIN, 0};
    ::poll(&fd, 1, int(pause.count()));
    if (fd.revents & POLLIN) {
      std::uint64_t n;
      [[maybe_unused]] auto r = ::read(event_fd_, &n, sizeof n);
    }
    pause = std::min<std::chrono::milliseconds>(pause * 2, 5s);
  }
}

pipeline_config with_outputs_below_root(pipeline_config config) {
  for (auto& sink : config.sinks) {
    auto path = writer_spec().decode(sink.options).path;
    if (fs::path(path).is_relative())
      sink.options["path"] = (fs::path(config.source.root) / path).string();
  }
  return config;
}

run_report run_queue(const pipeline_config& given,
                     const stage_registry& registry,
                     const run_options& options) {
  auto config = with_outputs_below_root(given);
  run_report report;
  report.max_in_flight = prepare_run(config, options);
  auto stages = build_stages(config, registry, options);
  for (auto& warning : config_warnings(config))
    spdlog::warn("{}", warning);
  // No removal of stale temporaries here: on shared storage another
  // machine's live worker may have the pid of a dead one of this machine.
  // Shared with the stop function, which a signal may call at any time,
  // even after this function returned: it then finds no feed.
  auto shared = std::make_shared<queue_feed>(
    config.source, report.max_in_flight, options.until_empty,
    std::chrono::seconds(2), options.metrics);
  auto& feed = *shared;
  auto flow = source_flow_options(config, report.max_in_flight, options);
  flow.on_finished = [&](const job& finished) {
    job j = finished;
    if (feed.finish(j) == queue_outcome::retried)
      return;
    if (options.on_finished)
      options.on_finished(j);
    ++report.total;
    if (j.failed())
      report.failures.push_back(j);
    else if (j.skipped)
      ++report.skipped;
    else
      ++report.succeeded;
  };
  if (options.on_watching)
    options.on_watching([weak = std::weak_ptr<queue_feed>(shared)] {
      if (auto f = weak.lock())
        f->stop();
    });
  image_tally::reset_peak();
  auto result = run_flow(stages, feed, flow);
  feed.shutdown();
  if (auto refused = feed.refusal(); !refused.empty())
    throw amqp_error(refused, false);
  auto counts = feed.counts();
  report.retried = counts.retried;
  report.peak_in_flight = result.peak_in_flight;
  report.peak_live_images = image_tally::peak();
  spdlog::info("queue {}: {} done, {} quarantined, {} returned for another "
               "delivery, {} acknowledged, {} reconnections",
               config.source.queue, counts.done, counts.quarantined,
               counts.retried, counts.acked, counts.reconnects);
  return report;
}

} // namespace pixline
