#pragma once
// The plugins a run loads: the command line's and those its config file
// names (pipeline/plugin.hpp loads one).

#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/plugin.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

/// Loads `paths` (the command line's `--plugin`s), then the plugins the
/// config file names in its top-level `plugins` array, if `config_file` is
/// given. A plugin from the config that fails is reported as a config_error
/// at its entry in the file.
std::vector<loaded_plugin>
load_plugins(stage_registry& registry, const std::vector<std::string>& paths,
             const std::filesystem::path& config_file = {});

} // namespace pixline
