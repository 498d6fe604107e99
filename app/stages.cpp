// `pixline stages`: the stage reference, of one stage or all of them.

#include <cstdio>
#include <fstream>
#include <sstream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "app/command.hpp"
#include "config/schema.hpp"
#include "pipeline/stage_docs.hpp"

namespace pixline::app {

namespace {

/// What `stages` parses.
struct stages_args {
  std::string name;
  bool markdown = false;
  /// --config-reference FILE: FILE (docs/config.md) with its option
  /// reference regenerated.
  std::string config_reference;
};

int stages_command(const stages_args& args, const global_options& globals) {
  const auto& name = args.name;
  const bool markdown = args.markdown;
  if (!args.config_reference.empty()) {
    std::ifstream in(args.config_reference, std::ios::binary);
    if (!in) {
      fmt::print(stderr, "pixline: cannot read {}\n", args.config_reference);
      return exit_config;
    }
    std::ostringstream doc;
    doc << in.rdbuf();
    fmt::print("{}", pixline::with_config_reference(doc.str()));
    return exit_ok;
  }
  auto registry = registry_with_plugins(globals, "");
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

command add_stages_command(CLI::App& app, const global_options& globals) {
  auto args = std::make_shared<stages_args>();
  command result;
  result.cli = app.add_subcommand("stages", "List stages or describe one");
  result.cli->add_option("name", args->name, "Stage to describe");
  result.cli->add_flag("--markdown", args->markdown,
                       "Print the whole reference as Markdown "
                       "(docs/stages.md)");
  result.cli->add_option("--config-reference", args->config_reference,
                         "Print FILE (docs/config.md) with its option "
                         "reference regenerated from the config schemas");
  result.run = [args, &globals](signal_stopper*) {
    return stages_command(*args, globals);
  };
  return result;
}

} // namespace pixline::app
