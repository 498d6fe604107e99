#include "pipeline/registry.hpp"

#include <stdexcept>

namespace pixline {

void stage_registry::add(stage_spec spec) {
  if (spec.name.empty())
    throw std::invalid_argument("a stage needs a name");
  auto name = spec.name;
  if (!specs_.emplace(name, std::move(spec)).second)
    throw std::invalid_argument("stage '" + name + "' is already registered");
}

const stage_spec* stage_registry::find(const std::string& name) const {
  auto it = specs_.find(name);
  return it == specs_.end() ? nullptr : &it->second;
}

std::vector<const stage_spec*> stage_registry::all() const {
  std::vector<const stage_spec*> result;
  for (auto& [name, spec] : specs_)
    result.push_back(&spec);
  return result;
}

stage_registry builtin_registry() {
  stage_registry result;
  register_builtin_stages(result);
  return result;
}

} // namespace pixline
