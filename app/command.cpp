#include "app/command.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "config/plugins.hpp"

namespace pixline::app {

stage_registry registry_with_plugins(const global_options& globals,
                                     const std::string& config_file) {
  auto registry = builtin_registry();
  for (auto& p : load_plugins(registry, globals.plugins, config_file))
    spdlog::debug("plugin {} ({}): stages {}", p.name, p.path,
                  fmt::join(p.stages, ", "));
  return registry;
}

} // namespace pixline::app
