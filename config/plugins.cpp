#include "config/plugins.hpp"

#include "config/config.hpp"

namespace pixline {

std::vector<loaded_plugin>
load_plugins(stage_registry& registry, const std::vector<std::string>& paths,
             const std::filesystem::path& config_file) {
  std::vector<loaded_plugin> result;
  for (auto& path : paths)
    result.push_back(load_plugin(path, registry));
  if (config_file.empty())
    return result;
  for (auto& entry : plugins_of_config(config_file)) {
    try {
      result.push_back(load_plugin(entry.path, registry));
    } catch (const plugin_error& e) {
      throw config_error(entry.where, e.what());
    }
  }
  return result;
}

} // namespace pixline
