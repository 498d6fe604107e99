// pixline: the command-line tool. Each command is in a file of its own
// (run.cpp for run and watch, validate.cpp, node.cpp, stages.cpp); main()
// sets up what they share and maps their errors to exit codes (command.hpp).

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <vips/vips8>

#include <unistd.h>

#include "actors/net/remote.hpp"
#include "actors/process/worker_main.hpp"
#include "actors/run/amqp.hpp"
#include "app/command.hpp"
#include "app/json_log.hpp"
#include "app/progress.hpp"
#include "app/signals.hpp"
#include "config/chain.hpp"
#include "config/config.hpp"
#include "config/usage.hpp"
#include "pipeline/memory.hpp"
#include "pipeline/plugin.hpp"
#include "pipeline/safe_fs.hpp"
#include "pipeline/vips_modules.hpp"

int main(int argc, char** argv) {
  using namespace pixline::app;
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
  global_options globals;
  app.add_option("--log-level", globals.log_level,
                 "trace, debug, info, warn, error, off (default: the "
                 "config's [pipeline] log_level, else info)")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option("--log-format", globals.log_format,
                 "text (default) or json: one JSON object per line (time, "
                 "level, message, input and stage where known) for "
                 "journald, Loki or Vector")
    ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--plugin", globals.plugins,
                 "Load stages from a plugin (a shared library; repeatable), "
                 "besides the config's plugins = [...]");

  const std::vector<command> commands{
    add_run_command(app, globals), add_watch_command(app, globals),
    add_validate_command(app, globals), add_node_command(app, globals),
    add_stages_command(app, globals),   add_test_command(app, globals),
    add_enqueue_command(app, globals),  add_queue_command(app, globals)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? exit_ok : exit_config;
  }
  const command* chosen = nullptr;
  for (auto& c : commands)
    if (*c.cli)
      chosen = &c;
  if (!chosen)
    return exit_config; // require_subcommand(1) makes this unreachable

  // Before any other thread exists, so they all inherit its signal mask.
  std::unique_ptr<signal_stopper> stopper;
  if (chosen->takes_signals)
    stopper = std::make_unique<signal_stopper>();

  auto logger = std::make_shared<spdlog::logger>(
    "pixline", std::make_shared<progress_sink>());
  if (globals.log_format == "json")
    logger->set_formatter(pixline::make_json_log_formatter());
  else
    logger->set_pattern("%^%l%$: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(
    globals.log_level.empty() ? "info" : globals.log_level));
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
  // libvips' modules (HEIF, JPEG XL, PDF, ImageMagick...) are loaded when
  // an image needs one, not here (pipeline/vips_modules.hpp).
  pixline::defer_vips_modules();
  if (VIPS_INIT(argv[0])) {
    fmt::print(stderr, "pixline: libvips failed to start: {}\n",
               vips_error_buffer());
    return exit_fatal;
  }
  // Errors that end the command: a log line when logs are JSON (a log
  // collector reads nothing else), else a plain line on stderr.
  auto say = [json = globals.log_format == "json"](const std::string& text) {
    if (json)
      spdlog::error("{}", text);
    else
      fmt::print(stderr, "pixline: {}\n", text);
  };
  int rc = exit_ok;
  try {
    rc = chosen->run(stopper.get());
  } catch (const pixline::config_error& e) {
    say(fmt::format("config error: {}", e.what()));
    rc = exit_config;
  } catch (const pixline::usage_error& e) {
    say(e.what());
    rc = exit_config;
  } catch (const pixline::plugin_error& e) {
    say(e.what());
    rc = exit_config;
  } catch (const pixline::chain_error& e) {
    say(e.what());
    rc = exit_config;
  } catch (const pixline::node_error& e) {
    say(e.what());
    rc = exit_node;
  } catch (const pixline::folder_busy& e) {
    say(e.what());
    rc = exit_busy;
  } catch (const pixline::amqp_error& e) {
    say(fmt::format("broker: {}", e.what()));
    rc = exit_fatal;
  } catch (const std::exception& e) {
    // Anything else is pixline's failure, not the user's: a stray
    // std::invalid_argument included.
    say(fmt::format("fatal: {}", e.what()));
    rc = exit_fatal;
  }
  if (pixline::network_abandoned()) {
    // CAF's network thread still waits on a connection to a node that is
    // gone (actors/net/remote.hpp); outputs, journal and summary are done
    // and their files closed, so leave without the static destructors that
    // would run under its feet.
    spdlog::default_logger()->flush();
    std::fflush(nullptr);
    ::_exit(rc);
  }
  vips_shutdown();
  return rc;
}
