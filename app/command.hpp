#pragma once
// What every command of the `pixline` program shares: exit codes, the
// options given before the command, and how main() sees a command.
//
// Exit codes: 0 every image succeeded, 1 some images failed, 2 config or
// usage error, 3 fatal runtime error, 4 a node was lost, 5 a batch with no
// inputs, 6 another pixline process uses the output or state folder,
// 128 + the signal for a batch stopped by SIGINT/SIGTERM.

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "pipeline/registry.hpp"

namespace pixline::app {

constexpr int exit_ok = 0;
constexpr int exit_images_failed = 1;
constexpr int exit_config = 2;
constexpr int exit_fatal = 3;
constexpr int exit_node = 4;
constexpr int exit_no_inputs = 5;
constexpr int exit_busy = 6;

/// The help of `--set`, the same on every command that takes it.
constexpr const char* set_option_help =
  "Change a config value, PATH=VALUE (repeatable): "
  "pipeline.max_in_flight=8, filter.2.width=512, "
  "filter.thumbnail.width=512, sink.quality=80; checked like the file";

class signal_stopper;

/// Options given before the command, for every command.
struct global_options {
  /// --log-level; empty when not given.
  std::string log_level;
  /// --plugin, each.
  std::vector<std::string> plugins;
  /// --log-format: "text" or "json".
  std::string log_format = "text";
};

/// One command as main() sees it.
struct command {
  /// Its CLI11 subcommand: main() runs the command when it was given.
  CLI::App* cli = nullptr;
  /// Whether it takes SIGINT/SIGTERM (stops gracefully on the first).
  bool takes_signals = false;
  /// Runs it, once the command line is parsed, logging is set up and
  /// libvips started; returns the exit code. `stopper` is null unless
  /// takes_signals. Throws config_error, usage_error, plugin_error,
  /// chain_error (exit 2), node_error (exit 4), anything else (exit 3).
  std::function<int(signal_stopper* stopper)> run;
};

/// The commands, each in its own file. Each adds its subcommand and options
/// to `app`; the options it parses live in the returned command.
command add_run_command(CLI::App& app, const global_options& globals);
command add_watch_command(CLI::App& app, const global_options& globals);
command add_validate_command(CLI::App& app, const global_options& globals);
command add_node_command(CLI::App& app, const global_options& globals);
command add_stages_command(CLI::App& app, const global_options& globals);
command add_test_command(CLI::App& app, const global_options& globals);
command add_enqueue_command(CLI::App& app, const global_options& globals);
command add_queue_command(CLI::App& app, const global_options& globals);

/// The built-in stages plus those of the plugins given with --plugin and
/// in the config file's `plugins` array (none when `config_file` is empty).
stage_registry registry_with_plugins(const global_options& globals,
                                     const std::string& config_file);

} // namespace pixline::app
