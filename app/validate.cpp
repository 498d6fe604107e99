// `pixline validate`: checks a pipeline config, and what `run` would do with
// it, without reading any image.

#include <cstdio>
#include <filesystem>
#include <system_error>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "actors/net/remote.hpp"
#include "actors/run/amqp.hpp"
#include "actors/run/run.hpp"
#include "actors/run/stages.hpp"
#include "app/command.hpp"
#include "config/config.hpp"
#include "config/usage.hpp"
#include "pipeline/metrics.hpp"
#include "pipeline/registry.hpp"

namespace pixline::app {

namespace {

/// What `validate` parses.
struct validate_args {
  std::string config_file;
  /// --input, as run's.
  run_options options;
  /// --set PATH=VALUE, each.
  std::vector<std::string> sets;
};

/// Each file an option names (an overlay, a profile) must exist. Only
/// asked of the file system, never opened: a FIFO or a file on a stalled
/// mount cannot block validate, and no image is decoded. Run opens them
/// when the pipeline starts.
void check_named_files(const pipeline_config& config,
                       const stage_registry& registry) {
  auto check = [&](const filter_section& f) {
    auto spec = registry.find(f.type);
    if (!spec)
      return;
    for (auto& [name, value] : f.options) {
      auto opt = spec->find(name);
      auto path = std::get_if<std::string>(&value);
      if (!opt || !opt->names_file || !path || opt->is_builtin_name(*path))
        continue;
      std::error_code ec;
      auto status = std::filesystem::status(*path, ec);
      if (!std::filesystem::exists(status))
        throw config_error(f.where,
                           fmt::format("filter '{}': option '{}': no file "
                                       "\"{}\"{}",
                                       f.type, name, *path,
                                       ec && ec != std::errc::no_such_file_or_directory
                                         ? fmt::format(" ({})", ec.message())
                                         : std::string{}));
      if (std::filesystem::is_directory(status))
        throw config_error(f.where,
                           fmt::format("filter '{}': option '{}': \"{}\" is "
                                       "a folder, not a file",
                                       f.type, name, *path));
    }
  };
  for (auto& f : config.filters)
    check(f);
  for (auto& sink : config.sinks)
    for (auto& f : sink.filters)
      check(f);
}

int validate_command(const validate_args& args,
                     const global_options& globals) {
  const auto& file = args.config_file;
  const auto& options = args.options;
  auto registry = registry_with_plugins(globals, file);
  auto config = pixline::load_config(file, registry, args.sets);
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
    throw usage_error(fmt::format("{}: {}", file, what));
  }
  check_named_files(config, registry);
  // Plans the stages from their specs: no stage is built, no file opened.
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

} // namespace

command add_validate_command(CLI::App& app, const global_options& globals) {
  auto args = std::make_shared<validate_args>();
  command result;
  result.cli = app.add_subcommand(
    "validate", "Check a pipeline config without reading any image");
  result.cli->add_option("config", args->config_file, "Pipeline config (TOML)")
    ->required();
  result.cli->add_option("-i,--input", args->options.input,
                         "Input folder, file or glob, as run's --input");
  result.cli->add_option("--set", args->sets, set_option_help);
  result.run = [args, &globals](signal_stopper*) {
    return validate_command(*args, globals);
  };
  return result;
}

} // namespace pixline::app
