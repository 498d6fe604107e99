#pragma once

#include <map>
#include <string>
#include <vector>

#include "pipeline/spec.hpp"

namespace pixline {

/// All stages a pipeline can use, by name. Built-in stages and user stages
/// (compiled in or loaded from plugins) register through the same call.
class stage_registry {
public:
  /// Adds a stage; throws std::invalid_argument if the name is taken or the
  /// spec has no name.
  void add(stage_spec spec);

  /// The stage called `name`, or nullptr.
  const stage_spec* find(const std::string& name) const;

  /// Every registered stage in name order.
  std::vector<const stage_spec*> all() const;

private:
  std::map<std::string, stage_spec> specs_;
};

/// Registers every built-in stage: the loader, the writer and each filter.
/// This is the one place that lists them.
void register_builtin_stages(stage_registry& registry);

/// A registry with the built-in stages.
stage_registry builtin_registry();

} // namespace pixline
