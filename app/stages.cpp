// `pixline stages`: the stage reference, of one stage or all of them.

#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "app/command.hpp"
#include "pipeline/stage_docs.hpp"

namespace pixline::app {

namespace {

/// What `stages` parses.
struct stages_args {
  std::string name;
  bool markdown = false;
};

int stages_command(const stages_args& args, const global_options& globals) {
  const auto& name = args.name;
  const bool markdown = args.markdown;
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
  result.run = [args, &globals](signal_stopper*) {
    return stages_command(*args, globals);
  };
  return result;
}

} // namespace pixline::app
