// `pixline run` and `pixline watch`: a pipeline over its inputs, once or as
// files land. The two take the same options, declared once here; watch is
// run with [source] kind = "watch".

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include "actors/io/writer.hpp"
#include "actors/run/events.hpp"
#include "actors/run/run.hpp"
#include "app/command.hpp"
#include "app/queue_commands.hpp"
#include "app/reload.hpp"
#include "app/metrics_server.hpp"
#include "app/progress.hpp"
#include "app/signals.hpp"
#include "config/chain.hpp"
#include "config/config.hpp"
#include "config/usage.hpp"
#include "pipeline/log_context.hpp"
#include "pipeline/metrics.hpp"

namespace pixline::app {

namespace {

/// What `run` and `watch` parse.
struct run_args {
  std::string config_file;
  /// --input and --output.
  run_options options;
  /// --workers STAGE=N, each.
  std::vector<std::string> workers;
  /// --quiet: no summary.
  bool quiet = false;
  /// --recursive: take the input folder's sub-folders too.
  bool recursive = false;
  /// --allow-empty (run only): no inputs is a success.
  bool allow_empty = false;
  /// --chain.
  std::string chain;
  /// --events FILE or -.
  std::string events;
  /// --metrics HOST:PORT.
  std::string metrics;
  /// --set PATH=VALUE, each.
  std::vector<std::string> sets;
  /// --watch-config (watch only): reload when the config file changes.
  bool watch_config = false;
  /// --enqueue (watch only): publish each file to a queue source's queue.
  bool enqueue = false;
};

/// Parses `--workers STAGE=N`.
std::vector<std::pair<std::string, int>>
parse_workers(const std::vector<std::string>& items) {
  std::vector<std::pair<std::string, int>> result;
  for (auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw usage_error(
        fmt::format("--workers {}: expected STAGE=N, e.g. save=4", item));
    int n = 0;
    try {
      size_t used = 0;
      n = std::stoi(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1)
        throw std::invalid_argument("trailing characters");
    } catch (const std::exception&) {
      throw usage_error(
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
    throw usage_error(fmt::format("{} {}: {}", origin, listen, *err));
  options.metrics = std::make_shared<pixline::metrics_registry>();
  auto server = std::make_unique<pixline::metrics_server>(
    std::get<pixline::listen_address>(parsed), options.metrics, origin);
  spdlog::info("metrics on http://{}/metrics", listen);
  return server;
}

int run_command(const run_args& args, bool force_watch,
                const global_options& globals, signal_stopper* stopper) {
  const auto& file = args.config_file;
  const auto& chain = args.chain;
  const auto& events_target = args.events;
  const auto& metrics_listen = args.metrics;
  const auto& sets = args.sets;
  const bool quiet = args.quiet;
  const bool cli_log_level = !globals.log_level.empty();
  auto options = args.options;
  auto registry = registry_with_plugins(globals, file);
  if (file.empty() && !sets.empty())
    throw usage_error("--set changes a config file's values: give "
                                "the config file (with --chain alone, put "
                                "the options in the chain)");
  if (file.empty() && chain.empty())
    throw usage_error("give a pipeline config file, or --chain "
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
    if (args.recursive)
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
  options.workers = parse_workers(args.workers);
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
    if (args.watch_config)
      throw usage_error("--watch-config needs a config file");
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
    if (args.watch_config)
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
  if (report.total == 0 && !args.allow_empty) {
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


/// The options of `run` or (`watch`) of `watch`, on `cmd`.
void add_run_options(CLI::App* cmd, run_args& args, bool watch) {
  cmd->add_option("config", args.config_file,
                  "Pipeline config (TOML); optional with --chain");
  cmd->add_option("-i,--input", args.options.input,
                  watch ? "Folder to watch (replaces [source] path)"
                        : "Input folder, file or glob (replaces [source])");
  cmd->add_option("-o,--output", args.options.output,
                  "Output folder (replaces [sink] path)");
  cmd->add_option("-w,--workers", args.workers,
                  "Workers of a stage, STAGE=N (repeatable), e.g. save=4; "
                  "STAGE is load, a filter, save or commit");
  cmd->add_flag("-q,--quiet", args.quiet, "Print no summary");
  cmd->add_flag("-r,--recursive", args.recursive,
                watch ? "Watch the folder's sub-folders too (as [source] "
                        "recursive = true)"
                      : "Take the input folder's sub-folders too (as "
                        "[source] recursive = true)");
  if (!watch) {
    cmd->add_flag("--allow-empty", args.allow_empty,
                  "No inputs is a success (exit 0) instead of exit 5");
    cmd->add_flag("--until-empty", args.options.until_empty,
                  "A queue source: stop once the queue stays empty (without "
                  "it, a queue worker serves until SIGTERM)");
  }
  cmd->add_option("-c,--chain", args.chain,
                  "Filters and sink inline, replacing the config's: "
                  "'autorotate ! thumbnail width=256 ! save format=webp'");
  cmd->add_option("--events", args.events,
                  "Write JSON lines (started, written, skipped, failed, "
                  "finished) to FILE, or - for stdout");
  cmd->add_option("--metrics", args.metrics,
                  "Serve Prometheus metrics on HOST:PORT (/metrics, "
                  "/healthz, /readyz), e.g. 127.0.0.1:9464; replaces "
                  "[metrics] listen");
  cmd->add_option("--set", args.sets, set_option_help);
  if (watch) {
    cmd->add_flag("--watch-config", args.watch_config,
                  "Reload the config when its file changes, as on SIGHUP "
                  "(docs/watch.md, \"Reloading the config\")");
    cmd->add_flag("--enqueue", args.enqueue,
                  "A queue source: publish each file that lands below the "
                  "root (or --input) to the queue instead of processing it");
  }
}

command add_command(CLI::App& app, const global_options& globals,
                    bool watch) {
  auto args = std::make_shared<run_args>();
  command result;
  result.cli = watch
                 ? app.add_subcommand(
                     "watch", "Watch the source folder and process every "
                              "file that lands there (same as [source] "
                              "kind = \"watch\")")
                 : app.add_subcommand("run", "Run a pipeline over its inputs");
  add_run_options(result.cli, *args, watch);
  // Watch mode may be chosen by the config, so `run` takes the signals
  // too.
  result.takes_signals = true;
  result.run = [args, &globals, watch](signal_stopper* stopper) {
    if (watch && args->enqueue) {
      if (args->config_file.empty())
        throw usage_error("--enqueue needs a config file with a queue "
                          "[source] (url, queue and root)");
      auto registry = registry_with_plugins(globals, args->config_file);
      auto config = pixline::load_config(args->config_file, registry,
                                         args->sets);
      if (args->recursive)
        config.source.recursive = true;
      int rc = pixline::enqueue_watch(config, args->options.input,
                                      [stopper](std::function<void()> stop) {
                                        stopper->set(std::move(stop));
                                      });
      // From here on a signal ends the process at once.
      stopper->set({});
      return rc;
    }
    return run_command(*args, watch, globals, stopper);
  };
  return result;
}

} // namespace

command add_run_command(CLI::App& app, const global_options& globals) {
  return add_command(app, globals, false);
}

command add_watch_command(CLI::App& app, const global_options& globals) {
  return add_command(app, globals, true);
}

} // namespace pixline::app
