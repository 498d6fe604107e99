// pixline: the command-line tool. Exit codes: 0 every image succeeded, 1 some
// images failed, 2 config or usage error, 3 fatal runtime error, 4 a batch
// with no inputs, 128 + the signal for a batch stopped by SIGINT/SIGTERM.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <thread>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <vips/vips8>

#include <pthread.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "actors/writer.hpp"
#include "app/metrics_server.hpp"
#include "app/json_log.hpp"
#include "app/reload.hpp"
#include "app/test_command.hpp"
#include "app/queue_commands.hpp"
#include "config/chain.hpp"
#include "pipeline/log_context.hpp"
#include "config/config.hpp"
#include "actors/remote.hpp"
#include "pipeline/memory.hpp"
#include "pipeline/orc_guard.hpp"
#include "pipeline/amqp.hpp"
#include "pipeline/events.hpp"
#include "pipeline/metrics.hpp"
#include "actors/process/worker_main.hpp"
#include "pipeline/plugin.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/run.hpp"
#include "pipeline/stage_docs.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_images_failed = 1;
constexpr int exit_config = 2;
constexpr int exit_fatal = 3;
constexpr int exit_node = 4;
constexpr int exit_no_inputs = 5;
constexpr int exit_busy = 6;

/// Command-line switches about the set of inputs.
struct input_flags {
  /// --recursive: take the input folder's sub-folders too.
  bool recursive = false;
  /// --allow-empty: no inputs is a success.
  bool allow_empty = false;
  /// --watch-config: a watch reloads its config when the file changes.
  bool watch_config = false;
};

/// Parses `--workers STAGE=N`.
std::vector<std::pair<std::string, int>>
parse_workers(const std::vector<std::string>& items) {
  std::vector<std::pair<std::string, int>> result;
  for (auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::invalid_argument(
        fmt::format("--workers {}: expected STAGE=N, e.g. save=4", item));
    int n = 0;
    try {
      size_t used = 0;
      n = std::stoi(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1)
        throw std::invalid_argument("trailing characters");
    } catch (const std::exception&) {
      throw std::invalid_argument(
        fmt::format("--workers {}: N must be a whole number", item));
    }
    result.emplace_back(item.substr(0, eq), n);
  }
  return result;
}

/// Starts the metrics endpoint when `--metrics` or the config's [metrics]
/// asks for one (the command line wins), and hands its registry to the run.
std::unique_ptr<pixline::metrics_server>
start_metrics(const std::string& cli_listen,
              const pixline::pipeline_config& config,
              pixline::run_options& options) {
  std::string listen = cli_listen;
  std::string origin = "--metrics";
  if (listen.empty() && config.metrics.configured) {
    listen = config.metrics.listen;
    auto& at = config.metrics.where;
    origin = fmt::format("{}:{}:{}: [metrics] listen =", at.file, at.line,
                         at.column);
  }
  if (listen.empty())
    return nullptr;
  auto parsed = pixline::parse_listen_address(listen);
  if (auto err = std::get_if<std::string>(&parsed))
    throw std::invalid_argument(fmt::format("{} {}: {}", origin, listen, *err));
  options.metrics = std::make_shared<pixline::metrics_registry>();
  auto server = std::make_unique<pixline::metrics_server>(
    std::get<pixline::listen_address>(parsed), options.metrics, origin);
  spdlog::info("metrics on http://{}/metrics", listen);
  return server;
}

/// Graceful stop for watch mode: SIGINT/SIGTERM are blocked in every thread
/// and taken by one thread with sigwait. The first stops taking new files and
/// lets those in flight finish; the second exits at once.
class signal_stopper {
public:
  signal_stopper() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGHUP);
    // Before any other thread exists, so they all inherit the mask.
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    std::thread([this] { wait(); }).detach();
  }

  void set(std::function<void()> stop) {
    std::lock_guard<std::mutex> guard{mutex_};
    stop_ = std::move(stop);
  }

  /// Called for SIGHUP (a watch reloads its config); without it SIGHUP is
  /// logged and ignored.
  void on_hangup(std::function<void()> reload) {
    std::lock_guard<std::mutex> guard{mutex_};
    hangup_ = std::move(reload);
  }

  /// Called before the process exits at once (a second signal).
  void on_abort(std::function<void()> cleanup) {
    std::lock_guard<std::mutex> guard{mutex_};
    cleanup_ = std::move(cleanup);
  }

  /// The first signal received, 0 when none.
  int received() const {
    return first_;
  }

private:
  void wait() {
    for (int count = 0;; ++count) {
      int sig = 0;
      if (sigwait(&set_, &sig) != 0)
        return;
      if (sig == SIGHUP) {
        --count; // not a stop
        std::function<void()> reload;
        {
          std::lock_guard<std::mutex> guard{mutex_};
          reload = hangup_;
        }
        if (reload)
          reload();
        else
          spdlog::info("SIGHUP ignored: only a watch reloads its config");
        continue;
      }
      if (count == 0)
        first_ = sig;
      bool can_stop;
      {
        std::lock_guard<std::mutex> guard{mutex_};
        can_stop = bool(stop_);
      }
      if (count > 0 || !can_stop) {
        // Outputs are written atomically: an abort leaves no partial
        // output, only temporary files, removed here (and any a worker
        // makes in the last instant by the next run).
        static const char msg[] = "pixline: exiting now\n";
        [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
        std::function<void()> cleanup;
        {
          std::lock_guard<std::mutex> guard{mutex_};
          cleanup = cleanup_;
        }
        if (cleanup)
          cleanup();
        ::_exit(128 + sig);
      }
      spdlog::warn("{}: finishing the images in flight, then stopping "
                   "(signal again to exit at once)",
                   sig == SIGINT ? "SIGINT" : "SIGTERM");
      std::function<void()> stop;
      {
        std::lock_guard<std::mutex> guard{mutex_};
        stop = stop_;
      }
      if (stop)
        stop();
    }
  }

  sigset_t set_;
  std::atomic<int> first_{0};
  std::mutex mutex_;
  std::function<void()> stop_;
  std::function<void()> cleanup_;
  std::function<void()> hangup_;
};

/// The live progress line of a batch on a terminal: done/total, images/s,
/// ETA and failures, redrawn in place at most ten times a second and cut to
/// the terminal's width; nothing at all when stdout is not a terminal, with
/// --quiet, or in watch mode. Log lines clear it first and redraw it after
/// (progress_sink), so they never land in the middle of it.
class progress_line {
public:
  explicit progress_line(bool enabled) : enabled_(enabled) {
  }

  bool enabled() const {
    return enabled_;
  }

  void start(std::size_t total) {
    std::lock_guard<std::mutex> guard{mutex_};
    total_ = total;
    start_ = std::chrono::steady_clock::now();
  }

  void tick(bool failed) {
    std::lock_guard<std::mutex> guard{mutex_};
    ++done_;
    failed_ += failed ? 1 : 0;
    if (!enabled_)
      return;
    auto now = std::chrono::steady_clock::now();
    if (done_ != total_ && now - last_ < std::chrono::milliseconds(100))
      return;
    last_ = now;
    draw();
  }

  /// Takes the line off the screen before a log line is written.
  void hide() {
    std::lock_guard<std::mutex> guard{mutex_};
    if (drawn_) {
      fmt::print("\r\x1b[K");
      std::fflush(stdout);
    }
  }

  /// Puts it back after the log line.
  void show() {
    std::lock_guard<std::mutex> guard{mutex_};
    if (drawn_)
      draw();
  }

  /// Clears the line before the summary is printed.
  void finish() {
    hide();
    std::lock_guard<std::mutex> guard{mutex_};
    drawn_ = false;
  }

  /// The line for a terminal `columns` wide: the bar narrows (24 columns
  /// at most) and then goes, then the ETA, then the text is cut, so it
  /// never wraps (a wrapped line cannot be redrawn in place).
  static std::string render(std::size_t done, std::size_t total,
                            std::size_t failed, double rate, double eta,
                            int columns) {
    auto limit = std::size_t(std::max(columns - 1, 1));
    std::string counts = fmt::format("{}/{}", done, total);
    std::string speed = fmt::format("{:.1f} images/s", rate);
    std::string time = fmt::format("ETA {:.0f} s", eta);
    std::string fails = fmt::format("{} failed", failed);
    auto text = counts + "  " + speed + "  " + time + "  " + fails;
    // "[" + bar + "] " around it; a bar under 8 columns says too little.
    if (text.size() + 3 + 8 <= limit) {
      auto width = std::min<std::size_t>(24, limit - text.size() - 3);
      auto filled = total ? width * std::min(done, total) / total : width;
      return fmt::format("[{:=<{}}{:<{}}] {}", "", filled, "",
                         width - filled, text);
    }
    for (auto line : {text, counts + "  " + speed + "  " + fails})
      if (line.size() <= limit)
        return line;
    return (counts + "  " + fails).substr(0, limit);
  }

private:
  static int columns() {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
      return ws.ws_col;
    return 80;
  }

  void draw() {
    std::chrono::duration<double> took = std::chrono::steady_clock::now()
                                         - start_;
    double rate = took.count() > 0 ? double(done_) / took.count() : 0.0;
    auto left = total_ > done_ ? total_ - done_ : 0;
    auto eta = rate > 0 ? double(left) / rate : 0.0;
    fmt::print("\r{}\x1b[K",
               render(done_, total_, failed_, rate, eta, columns()));
    std::fflush(stdout);
    drawn_ = true;
  }

  bool enabled_;
  std::mutex mutex_;
  std::size_t total_ = 0;
  std::size_t done_ = 0;
  std::size_t failed_ = 0;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

/// The progress line that log lines must step around, while a batch runs.
std::atomic<progress_line*> live_progress{nullptr};

/// pixline's log sink: the coloured stderr sink, with the progress line
/// taken off the terminal for each log line and drawn again after it.
class progress_sink : public spdlog::sinks::base_sink<std::mutex> {
public:
  progress_sink() : inner_(std::make_shared<spdlog::sinks::stderr_color_sink_mt>()) {
  }

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    auto* progress = live_progress.load();
    if (progress)
      progress->hide();
    inner_->log(msg);
    if (progress)
      progress->show();
  }

  void flush_() override {
    inner_->flush();
  }

  void set_pattern_(const std::string& pattern) override {
    inner_->set_pattern(pattern);
  }

  void set_formatter_(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
};

/// The built-in stages plus those of the plugins given with --plugin and
/// in the config file's `plugins` array.
pixline::stage_registry
registry_with_plugins(const std::vector<std::string>& plugins,
                      const std::string& config_file) {
  auto registry = pixline::builtin_registry();
  for (auto& p : pixline::load_plugins(registry, plugins, config_file))
    spdlog::debug("plugin {} ({}): stages {}", p.name, p.path,
                  fmt::join(p.stages, ", "));
  return registry;
}

int cmd_run(const std::string& file, pixline::run_options options,
            const std::vector<std::string>& workers, bool quiet,
            bool force_watch, signal_stopper* stopper,
            const std::string& events_target, bool cli_log_level,
            const std::string& chain, const std::string& metrics_listen,
            const std::vector<std::string>& plugins, input_flags inputs,
            const std::vector<std::string>& sets) {
  auto registry = registry_with_plugins(plugins, file);
  if (file.empty() && !sets.empty())
    throw std::invalid_argument("--set changes a config file's values: give "
                                "the config file (with --chain alone, put "
                                "the options in the chain)");
  if (file.empty() && chain.empty())
    throw std::invalid_argument("give a pipeline config file, or --chain "
                                "(see --help)");
  // With only --chain, the inputs come from --input and the rest from the
  // chain and the defaults.
  // Built again, the same way, for a watch's config reload.
  auto make_config = [&] {
    pixline::pipeline_config config;
    config.file = "--chain";
    if (!file.empty())
      config = pixline::load_config(file, registry, sets);
    if (!chain.empty())
      pixline::apply_chain(chain, config, registry);
    if (force_watch)
      config.source.kind = "watch";
    if (inputs.recursive)
      config.source.recursive = true;
    return config;
  };
  auto config = make_config();
  if (!cli_log_level && !config.pipeline.log_level.empty())
    spdlog::set_level(spdlog::level::from_str(config.pipeline.log_level));
  if (stopper) {
    options.on_watching = [stopper](std::function<void()> stop) {
      stopper->set(std::move(stop));
    };
    std::vector<std::string> roots;
    if (!options.output.empty())
      roots.push_back(options.output);
    for (auto& sink : config.sinks)
      roots.push_back(pixline::writer_spec().decode(sink.options).path);
    // A queue's outputs are on storage other machines write too, where a
    // dead pid of this machine may be a live worker's elsewhere.
    if (config.source.kind == "queue")
      roots.clear();
    stopper->on_abort([roots] {
      for (auto& root : roots)
        pixline::remove_stale_temporaries(root);
    });
  }
  options.workers = parse_workers(workers);
  auto metrics = start_metrics(metrics_listen, config, options);
  std::unique_ptr<pixline::event_log> events;
  if (!events_target.empty())
    events = std::make_unique<pixline::event_log>(events_target);
  bool watch_mode = force_watch || config.source.kind == "watch"
                    || config.source.kind == "queue";
  progress_line progress{!quiet && !watch_mode && events_target != "-"
                         && ::isatty(STDOUT_FILENO)};
  bool watching = config.source.kind == "watch"
                  || (config.source.kind == "queue" && options.input.empty());
  // A batch says it started once it knows how many inputs it has, so a
  // program reading the events can draw a progress bar; a watch at once.
  options.on_listed = [&progress, &events, &config](std::size_t total) {
    if (events)
      events->started(config.pipeline.name, "batch",
                      pixline::resolved_max_in_flight(config), total);
    progress.start(total);
  };
  // At a terminal the summary lists the failures, in input order, once:
  // the per-image lines would say it all again above the progress line.
  auto failure_level = progress.enabled() && ::isatty(STDERR_FILENO)
                         ? spdlog::level::debug
                         : spdlog::level::err;
  // `config` is the running pipeline's (a watch's reload replaces it
  // between two pipelines, while no image is in flight).
  options.on_finished = [&events, &progress, watch_mode, &config,
                         failure_level](const pixline::job& j) {
    progress.tick(j.failed());
    // A queue's failures reach the end only once dead-lettered.
    bool quarantine = config.source.on_failure == "quarantine"
                      || config.source.kind == "queue";
    if (events)
      events->finished_job(j, j.failed() && quarantine
                                && watch_mode);
    pixline::log_about about{j.path, j.failed_stage};
    if (j.failed())
      spdlog::log(failure_level, "{}: failed in stage '{}': {}", j.path,
                  j.failed_stage, j.error);
    else if (j.skipped)
      spdlog::debug("{}: skipped, output exists", j.path);
    else
      for (auto& out : j.outputs)
        spdlog::debug("{} -> {}", j.path, out);
  };
  auto start = std::chrono::steady_clock::now();
  if (events && watching)
    events->started(config.pipeline.name, "watch",
                    pixline::resolved_max_in_flight(config));
  if (watching && config.source.kind == "watch")
    spdlog::info("watching {} (Ctrl-C to stop)",
                 options.input.empty() ? config.source.path : options.input);
  struct unhook {
    ~unhook() {
      live_progress = nullptr;
    }
  } unhook_progress;
  if (progress.enabled())
    live_progress = &progress;
  pixline::run_report report;
  if (config.source.kind != "watch") {
    // A batch, or a queue (run_pipeline serves it).
    report = pixline::run_pipeline(config, registry, options);
  } else if (file.empty()) {
    if (inputs.watch_config)
      throw std::invalid_argument("--watch-config needs a config file");
    report = pixline::run_watch(config, registry, options);
  } else {
    // SIGHUP or --watch-config: a valid new config replaces the pipeline
    // once the images in flight finish under the old one (app/reload.hpp).
    auto reloader = std::make_shared<pixline::config_reloader>(
      file, make_config, options.metrics, events.get());
    auto on_watching = options.on_watching;
    options.on_watching = [on_watching, reloader](std::function<void()> stop) {
      reloader->set_stop(stop);
      if (on_watching)
        on_watching(std::move(stop));
    };
    if (stopper)
      stopper->on_hangup([reloader] { reloader->request("SIGHUP"); });
    if (inputs.watch_config)
      reloader->watch_file(std::chrono::seconds(1));
    std::optional<pixline::pipeline_config> previous;
    for (;;) {
      pixline::run_report part;
      try {
        part = pixline::run_watch(config, registry, options);
      } catch (const pixline::config_error& e) {
        if (!previous)
          throw; // the first pipeline: a plain config error
        // Found only when the new pipeline's stages were built.
        reloader->refused(e.what());
        config = std::move(*previous);
        previous.reset();
        if (options.metrics)
          options.metrics->set_draining(false);
        continue;
      }
      report.total += part.total;
      report.succeeded += part.succeeded;
      report.skipped += part.skipped;
      report.failures.insert(report.failures.end(), part.failures.begin(),
                             part.failures.end());
      report.peak_in_flight = std::max(report.peak_in_flight,
                                       part.peak_in_flight);
      report.peak_live_images = std::max(report.peak_live_images,
                                         part.peak_live_images);
      report.max_in_flight = part.max_in_flight;
      report.already_done += part.already_done;
      report.retried += part.retried;
      reloader->set_stop({});
      auto next = reloader->take();
      if (options.metrics)
        options.metrics->set_draining(false);
      // A signal to stop wins over a reload that came with it.
      if (!next || (stopper && stopper->received() != 0))
        break;
      previous = config;
      config = std::move(*next);
      if (events)
        events->started(config.pipeline.name, "watch",
                        pixline::resolved_max_in_flight(config));
      spdlog::info("config reloaded; watching {}",
                   options.input.empty() ? config.source.path
                                         : options.input);
    }
    if (stopper)
      stopper->on_hangup({});
  }
  live_progress = nullptr;
  // From here on a signal ends the process at once.
  if (stopper)
    stopper->set({});
  std::sort(report.failures.begin(), report.failures.end(),
            [](const pixline::job& a, const pixline::job& b) {
              return a.id < b.id;
            });
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  progress.finish();
  if (events)
    events->finished(report, took.count());
  if (!quiet) {
    // With events on stdout, the summary goes to stderr.
    auto* out = events_target == "-" ? stderr : stdout;
    fmt::print(out, "{}: {} images: {} written, {} skipped, {} failed in {:.2f} s "
               "({:.1f} images/s); at most {} in flight (budget {})\n",
               config.pipeline.name, report.total, report.succeeded,
               report.skipped, report.failures.size(), took.count(),
               took.count() > 0 ? double(report.total) / took.count() : 0.0,
               report.peak_in_flight, report.max_in_flight);
    if (watching && report.already_done > 0)
      fmt::print(out, "{} files were already done in an earlier run\n",
                 report.already_done);
    if (!report.failures.empty()) {
      fmt::print(out, "failed:\n");
      for (auto& j : report.failures)
        fmt::print(out, "  {} [{}]: {}\n", j.path, j.failed_stage, j.error);
    }
    if (report.interrupted)
      fmt::print(out, "interrupted: {} input{} not started\n",
                 report.not_started, report.not_started == 1 ? "" : "s");
  }
  // A batch stopped by a signal: every image it started is finished, and
  // the shell learns it was interrupted (128 + the signal, as it would be
  // without the summary).
  if (!watching && report.interrupted)
    return 128 + (stopper && stopper->received() ? stopper->received()
                                                 : SIGINT);
  // A watch that stopped on request has done its job: its failures were
  // logged (and quarantined, if so configured) as they happened.
  if (watching && !options.until_empty)
    return exit_ok;
  // A queue worker that stopped once the queue was empty: its
  // quarantined messages are its failures.
  if (options.until_empty)
    return report.failures.empty() ? exit_ok : exit_images_failed;
  // A mistyped folder or glob, or a folder of the wrong files, is not a
  // job well done.
  if (report.total == 0 && !inputs.allow_empty) {
    const auto& given = options.input.empty() ? config.source.path
                                              : options.input;
    fmt::print(stderr,
               "pixline: no inputs: {} (--allow-empty makes this a "
               "success)\n",
               given.find_first_of("*?[") != std::string::npos
                 ? fmt::format("'{}' matches no file", given)
                 : fmt::format("no image files in '{}'{}", given,
                               config.source.recursive
                                 ? ""
                                 : " (sub-folders need --recursive)"));
    return exit_no_inputs;
  }
  return report.failures.empty() ? exit_ok : exit_images_failed;
}

int cmd_validate(const std::string& file,
                 const std::vector<std::string>& plugins,
                 const pixline::run_options& options,
                 const std::vector<std::string>& sets) {
  auto registry = registry_with_plugins(plugins, file);
  auto config = pixline::load_config(file, registry, sets);
  // `run` would stop at once with no inputs: say so now.
  const auto& src = config.source;
  // A queue's url is checked here; the broker is not asked.
  if (src.kind == "queue")
    pixline::parse_amqp_url(src.url, src.password_env);
  if (options.input.empty() && src.kind != "list" && src.kind != "queue"
      && src.path.empty()) {
    std::string what = "[source] path is not set, so `pixline run` has no "
                       "inputs: set it, or give --input (to run and to "
                       "validate)";
    if (src.configured)
      throw pixline::config_error(src.where, what);
    throw std::invalid_argument(fmt::format("{}: {}", file, what));
  }
  auto stages = pixline::build_stages(config, registry);
  std::vector<std::string> names;
  for (auto& s : stages) {
    std::string placed;
    for (auto& p : s.remote)
      placed += fmt::format(" + {} x{}", p.node, p.workers);
    // A worker process runs its chain of stages itself.
    auto chain = s.chain.empty()
                   ? std::string{}
                   : fmt::format(": {}", fmt::join(s.chain, " -> "));
    names.push_back(
      fmt::format("{}(x{}{}{})", s.name, s.workers, placed, chain));
  }
  pixline::check_output_folder(config, options);
  for (auto& warning : pixline::config_warnings(config))
    fmt::print(stderr, "warning: {}\n", warning);
  // A misspelt host is only a warning: the name may resolve where and when
  // the pipeline runs.
  for (auto& n : config.nodes) {
    auto address = std::get<pixline::listen_address>(
      pixline::parse_listen_address(n.address));
    if (auto why = pixline::resolve_problem(address.host); !why.empty())
      fmt::print(stderr, "pixline: warning: {}:{}: [[node]] \"{}\": {}\n",
                 file, n.where.line, n.name, why);
  }
  fmt::print("{}: ok: {}\n", file, fmt::join(names, " -> "));
  return exit_ok;
}

/// True for an address that only this machine can reach.
bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

int cmd_node(const std::string& listen, pixline::node_options options,
             bool insecure, const std::vector<std::string>& plugins,
             signal_stopper* stopper) {
  // Port 0 lets the OS choose (the log says which), for tests and scripts.
  bool any_port = listen.size() > 2 && listen.compare(listen.size() - 2, 2, ":0") == 0;
  auto parsed = pixline::parse_listen_address(
    any_port ? listen.substr(0, listen.size() - 1) + "1" : listen);
  if (auto err = std::get_if<std::string>(&parsed))
    throw std::invalid_argument(fmt::format("--listen {}: {}", listen, *err));
  auto address = std::get<pixline::listen_address>(parsed);
  options.host = address.host;
  options.port = any_port ? 0 : address.port;
  int given = int(!options.tls_certificate.empty()) + int(!options.tls_key.empty())
              + int(!options.tls_ca.empty());
  if (given != 0 && given != 3)
    throw std::invalid_argument(
      "--tls-cert, --tls-key and --tls-ca go together: the node proves who it "
      "is and checks who connects");
  bool tls = given == 3;
  if (!tls && !is_loopback(options.host)) {
    if (!insecure)
      throw std::invalid_argument(fmt::format(
        "--listen {}: a node that listens beyond loopback needs TLS "
        "(--tls-cert, --tls-key, --tls-ca; docs/distributed.md has a recipe), "
        "or --insecure on a network you trust completely: without TLS anyone "
        "who can reach the port can run pipelines here",
        listen));
    spdlog::warn("listening on {} without TLS (--insecure): anyone who can "
                 "reach this port can run pipelines here "
                 "(docs/distributed.md)",
                 options.host);
  }
  auto registry = registry_with_plugins(plugins, "");
  static_cast<void>(pixline::orc_guarded_calls());
  vips_concurrency_set(1);
  vips_cache_set_max(0);
  options.on_listening = [&](int port) {
    spdlog::info("node listening on {}:{} ({})", options.host, port,
                 tls ? "TLS, peers must present a certificate the CA signed"
                     : "plain TCP");
  };
  options.on_running = [stopper](std::function<void()> stop) {
    stopper->set(std::move(stop));
  };
  pixline::run_node(options, registry);
  spdlog::info("node stopped");
  return exit_ok;
}

int cmd_stages(const std::string& name, bool markdown,
               const std::vector<std::string>& plugins) {
  auto registry = registry_with_plugins(plugins, "");
  if (markdown) {
    fmt::print("{}", pixline::stage_reference_markdown(registry));
    return exit_ok;
  }
  if (name.empty()) {
    fmt::print("{}", pixline::stage_list(registry));
    return exit_ok;
  }
  auto spec = registry.find(name);
  if (!spec) {
    fmt::print(stderr, "pixline: no stage '{}'; `pixline stages` lists them\n",
               name);
    return exit_config;
  }
  fmt::print("{}", pixline::stage_help(*spec));
  return exit_ok;
}

} // namespace

int main(int argc, char** argv) {
  // Before any thread exists (see pipeline/memory.hpp).
  const auto malloc_tuning = pixline::tune_malloc();
  // A worker process of a running pipeline (isolation = "process") is this
  // same program started again: it serves images and never gets here.
  if (auto rc = pixline::run_worker_if_asked())
    return *rc;
  CLI::App app{"pixline: an actor-model image-processing pipeline"};
  app.set_version_flag("--version", std::string{"pixline " PIXLINE_VERSION});
  app.require_subcommand(1);
  app.fallthrough();
  app.footer(
    "Environment (docs/operations.md, \"Memory settings\"):\n"
    "  PIXLINE_MALLOC=system      leave glibc malloc at its defaults\n"
    "  PIXLINE_MALLOC_TRIM_MIB=N  return free heap memory to the kernel "
    "after an image\n"
    "                             when over N MiB is free (at most every "
    "500 ms; default\n"
    "                             64, 0: never)\n"
    "  PIXLINE_MALLOC_ARENAS=N    malloc arenas (default: one per 4 cores, "
    "at least 1);\n"
    "                             more arenas wait less for locks on many "
    "cores, but\n"
    "                             let a long batch's peak memory creep up");
  std::string log_level;
  app.add_option("--log-level", log_level,
                 "trace, debug, info, warn, error, off (default: the "
                 "config's [pipeline] log_level, else info)")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  std::string log_format = "text";
  app.add_option("--log-format", log_format,
                 "text (default) or json: one JSON object per line (time, "
                 "level, message, input and stage where known) for "
                 "journald, Loki or Vector")
    ->check(CLI::IsMember({"text", "json"}));
  std::vector<std::string> plugins;
  app.add_option("--plugin", plugins,
                 "Load stages from a plugin (a shared library; repeatable), "
                 "besides the config's plugins = [...]");

  const char* workers_help = "Workers of a stage, STAGE=N (repeatable), e.g. "
                             "save=4; STAGE is load, a filter, save or commit";
  std::string config_file;
  pixline::run_options run_opts;
  std::vector<std::string> workers;
  bool quiet = false;
  auto run = app.add_subcommand("run", "Run a pipeline over its inputs");
  run->add_option("config", config_file,
                  "Pipeline config (TOML); optional with --chain");
  run->add_option("-i,--input", run_opts.input,
                  "Input folder, file or glob (replaces [source])");
  run->add_option("-o,--output", run_opts.output,
                  "Output folder (replaces [sink] path)");
  run->add_option("-w,--workers", workers, workers_help);
  run->add_flag("-q,--quiet", quiet, "Print no summary");
  input_flags inputs;
  run->add_flag("-r,--recursive", inputs.recursive,
                "Take the input folder's sub-folders too (as [source] "
                "recursive = true)");
  run->add_flag("--allow-empty", inputs.allow_empty,
                "No inputs is a success (exit 0) instead of exit 5");
  std::string chain;
  run->add_option("-c,--chain", chain,
                  "Filters and sink inline, replacing the config's: "
                  "'autorotate ! thumbnail width=256 ! save format=webp'");
  std::string events_target;
  run->add_option("--events", events_target,
                  "Write JSON lines (started, written, skipped, failed, "
                  "finished) to FILE, or - for stdout");
  run->add_flag("--until-empty", run_opts.until_empty,
                "A queue source: stop once the queue stays empty (without "
                "it, a queue worker serves until SIGTERM)");
  std::string metrics_listen;
  run->add_option("--metrics", metrics_listen,
                  "Serve Prometheus metrics on HOST:PORT (/metrics, "
                  "/healthz, /readyz), e.g. 127.0.0.1:9464; replaces [metrics] listen");

  auto watch = app.add_subcommand(
    "watch", "Watch the source folder and process every file that lands "
             "there (same as [source] kind = \"watch\")");
  watch->add_option("config", config_file, "Pipeline config (TOML)")
    ->required();
  watch->add_option("-i,--input", run_opts.input,
                    "Folder to watch (replaces [source] path)");
  watch->add_option("-o,--output", run_opts.output,
                    "Output folder (replaces [sink] path)");
  watch->add_option("-w,--workers", workers, workers_help);
  watch->add_flag("-q,--quiet", quiet, "Print no summary");
  watch->add_flag("--watch-config", inputs.watch_config,
                  "Reload the config when its file changes, as on SIGHUP "
                  "(docs/watch.md, \"Reloading the config\")");
  watch->add_flag("-r,--recursive", inputs.recursive,
                  "Watch the folder's sub-folders too (as [source] "
                  "recursive = true)");
  watch->add_option("-c,--chain", chain,
                    "Filters and sink inline, replacing the config's");
  watch->add_option("--events", events_target,
                    "Write JSON lines (started, written, skipped, failed, "
                    "finished) to FILE, or - for stdout");
  watch->add_option("--metrics", metrics_listen,
                    "Serve Prometheus metrics on HOST:PORT (/metrics, "
                    "/healthz, /readyz); replaces [metrics] listen");

  std::vector<std::string> sets;
  const char* set_help = "Change a config value, PATH=VALUE (repeatable): "
                         "pipeline.max_in_flight=8, filter.2.width=512, "
                         "filter.thumbnail.width=512, sink.quality=80; "
                         "checked like the file";
  run->add_option("--set", sets, set_help);
  watch->add_option("--set", sets, set_help);
  bool watch_enqueue = false;
  watch->add_flag("--enqueue", watch_enqueue,
                  "A queue source: publish each file that lands below the "
                  "root (or --input) to the queue instead of processing it");

  auto enqueue = app.add_subcommand(
    "enqueue", "Publish every input below a queue source's root to its "
               "queue, each confirmed by the broker (docs/scale-out.md)");
  enqueue->add_option("config", config_file, "Pipeline config (TOML) with "
                                             "[source] kind = \"queue\"")
    ->required();
  enqueue->add_option("-i,--input", run_opts.input,
                      "Folder below the root to publish (default: the root)");
  enqueue->add_flag("-r,--recursive", inputs.recursive,
                    "Take the folder's sub-folders too");
  enqueue->add_flag("-q,--quiet", quiet, "Print no summary");

  auto queue = app.add_subcommand("queue", "Look at a queue source's queue");
  queue->require_subcommand(1);
  auto queue_status = queue->add_subcommand(
    "status", "Ready, unacknowledged, consumers and dead-lettered counts");
  queue_status->add_option("config", config_file,
                           "Pipeline config (TOML) with [source] kind = "
                           "\"queue\"")
    ->required();
  int show_dead = 0;
  queue_status->add_option("--dead", show_dead,
                           "Also list up to N dead-lettered messages with "
                           "their last error")
    ->check(CLI::Range(0, 100000));

  auto validate = app.add_subcommand(
    "validate", "Check a pipeline config without reading any image");
  validate->add_option("--set", sets, set_help);
  validate->add_option("config", config_file, "Pipeline config (TOML)")
    ->required();
  validate->add_option("-i,--input", run_opts.input,
                       "Input folder, file or glob, as run's --input");

  std::string node_listen = "127.0.0.1:7400";
  pixline::node_options node_opts;
  auto node = app.add_subcommand(
    "node", "Run a worker node: stages of other machines' pipelines place "
            "workers here ([[node]] in their config; docs/distributed.md)");
  node->add_option("--listen", node_listen,
                   "HOST:PORT to listen on (default 127.0.0.1:7400; without "
                   "TLS keep it on loopback or a private network)");
  node->add_option("--tls-cert", node_opts.tls_certificate,
                   "This node's certificate (PEM)");
  node->add_option("--tls-key", node_opts.tls_key,
                   "This node's private key (PEM)");
  node->add_option("--tls-ca", node_opts.tls_ca,
                   "CA certificate (PEM): only peers it signed may connect");
  node->add_option("--connection-timeout", node_opts.connection_timeout,
                   "Seconds without a complete message before a coordinator "
                   "counts as gone (default 5; on a slow link, more than "
                   "the longest transfer)")
    ->check(CLI::Range(1, 3600));
  node->add_option("--isolation", node_opts.isolation,
                   "process (default): each worker runs its stage in a "
                   "sandboxed worker process; thread: in the node's own "
                   "process (docs/operations.md, \"Isolation\")")
    ->check(CLI::IsMember({"process", "thread"}));
  node->add_option("--image-timeout", node_opts.image_timeout,
                   "With process isolation: seconds one image may take in a "
                   "stage before its worker process is killed (default 120; "
                   "0: no limit)")
    ->check(CLI::Range(0.0, 86400.0));
  node->add_option("--worker-memory-mib", node_opts.worker_memory_mib,
                   "With process isolation: each worker process's "
                   "address-space limit in MiB (default 0: none)")
    ->check(CLI::Range(0, 1 << 24));
  bool node_insecure = false;
  node->add_flag("--insecure", node_insecure,
                 "Listen beyond loopback without TLS (anyone who can reach "
                 "the port can run pipelines here)");

  pixline::test_command_options test_opts;
  auto test = app.add_subcommand(
    "test", "Run a pipeline's fixture cases ([[test]] in the config or in "
            "NAME_test.toml beside it) into a temporary folder");
  test->add_option("files", test_opts.files,
                   "Pipeline configs or NAME_test.toml files (default: "
                   "every *_test.toml under the working directory)");
  test->add_option("--set", test_opts.sets, set_help);

  std::string stage_name;
  bool markdown = false;
  auto stages = app.add_subcommand("stages", "List stages or describe one");
  stages->add_option("name", stage_name, "Stage to describe");
  stages->add_flag("--markdown", markdown,
                   "Print the whole reference as Markdown (docs/stages.md)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? exit_ok : exit_config;
  }

  // Watch mode may be chosen by the config, so take the signals for any run.
  std::unique_ptr<signal_stopper> stopper;
  if (*run || *watch || *node)
    stopper = std::make_unique<signal_stopper>();
  // Loads a config for the queue commands.
  auto queue_config = [&] {
    auto registry = registry_with_plugins(plugins, config_file);
    auto config = pixline::load_config(config_file, registry);
    if (inputs.recursive)
      config.source.recursive = true;
    return config;
  };

  auto logger = std::make_shared<spdlog::logger>(
    "pixline", std::make_shared<progress_sink>());
  if (log_format == "json")
    logger->set_formatter(pixline::make_json_log_formatter());
  else
    logger->set_pattern("%^%l%$: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level.empty() ? "info"
                                                              : log_level));
  spdlog::debug("malloc: {}", pixline::describe(malloc_tuning));

  // libvips reports recoverable oddities ("ignoring nclx profile") as GLib
  // warnings on stderr; they are noise next to pixline's own per-image
  // errors, so they go to the log at debug level.
  g_log_set_handler(
    "VIPS", GLogLevelFlags(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE),
    [](const gchar*, GLogLevelFlags, const gchar* message, gpointer) {
      spdlog::debug("libvips: {}", message);
    },
    nullptr);
  if (VIPS_INIT(argv[0])) {
    fmt::print(stderr, "pixline: libvips failed to start: {}\n",
               vips_error_buffer());
    return exit_fatal;
  }
  // Errors that end the command: a log line when logs are JSON (a log
  // collector reads nothing else), else a plain line on stderr.
  auto say = [json = log_format == "json"](const std::string& text) {
    if (json)
      spdlog::error("{}", text);
    else
      fmt::print(stderr, "pixline: {}\n", text);
  };
  int rc = exit_ok;
  try {
    if (*watch && watch_enqueue) {
      rc = pixline::enqueue_watch(queue_config(), run_opts.input,
                                  [&stopper](std::function<void()> stop) {
                                    stopper->set(std::move(stop));
                                  });
      // From here on a signal ends the process at once.
      stopper->set({});
    } else if (*enqueue)
      rc = pixline::enqueue_folder(queue_config(), run_opts.input, quiet);
    else if (*queue_status)
      rc = pixline::queue_status(queue_config(), show_dead);
    else if (*run || *watch)
      rc = cmd_run(config_file, run_opts, workers, quiet, bool(*watch),
                   stopper.get(), events_target, !log_level.empty(), chain,
                   metrics_listen, plugins, inputs, sets);
    else if (*node)
      rc = cmd_node(node_listen, node_opts, node_insecure, plugins,
                    stopper.get());
    else if (*validate)
      rc = cmd_validate(config_file, plugins, run_opts, sets);
    else if (*test) {
      test_opts.plugins = plugins;
      test_opts.keep_log_level = !log_level.empty();
      rc = pixline::run_test_command(test_opts);
    }
    else if (*stages)
      rc = cmd_stages(stage_name, markdown, plugins);
  } catch (const pixline::config_error& e) {
    say(fmt::format("config error: {}", e.what()));
    rc = exit_config;
  } catch (const pixline::plugin_error& e) {
    say(e.what());
    rc = exit_config;
  } catch (const pixline::chain_error& e) {
    say(e.what());
    rc = exit_config;
  } catch (const std::invalid_argument& e) {
    say(e.what());
    rc = exit_config;
  } catch (const pixline::node_error& e) {
    say(e.what());
    rc = exit_node;
  } catch (const pixline::folder_busy& e) {
    fmt::print(stderr, "pixline: {}\n", e.what());
    rc = exit_busy;
  } catch (const pixline::amqp_error& e) {
    fmt::print(stderr, "pixline: broker: {}\n", e.what());
    rc = exit_fatal;
  } catch (const std::exception& e) {
    say(fmt::format("fatal: {}", e.what()));
    rc = exit_fatal;
  }
  if (pixline::network_abandoned()) {
    // CAF's network thread still waits on a connection to a node that is
    // gone (actors/remote.hpp); outputs, journal and summary are done and
    // their files closed, so leave without the static destructors that
    // would run under its feet.
    spdlog::default_logger()->flush();
    std::fflush(nullptr);
    ::_exit(rc);
  }
  vips_shutdown();
  return rc;
}
