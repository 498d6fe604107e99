#include "pipeline/registry.hpp"

#include <stdexcept>
#include <utility>

namespace pixline {

void stage_registry::add(stage_spec spec) {
  if (spec.name.empty())
    throw std::invalid_argument("a stage needs a name");
  auto name = spec.name;
  if (!specs_.emplace(name, std::move(spec)).second)
    throw std::invalid_argument("stage '" + name + "' is already registered");
}

stage_registry::stage_registry(const stage_registry& other)
  : specs_(other.specs_), families_(other.families_),
      plugins_(other.plugins_) {
}

stage_registry& stage_registry::operator=(const stage_registry& other) {
  if (this != &other) {
    specs_ = other.specs_;
    families_ = other.families_;
    plugins_ = other.plugins_;
    std::lock_guard lock{*made_mutex_};
    made_.clear();
  }
  return *this;
}

void stage_registry::add_family(std::string prefix, std::string summary,
                                resolver resolve) {
  if (prefix.empty())
    throw std::invalid_argument("a stage family needs a prefix");
  if (!families_.emplace(prefix, family{std::move(summary), std::move(resolve)})
         .second)
    throw std::invalid_argument("stage family '" + prefix
                                + ":' is already registered");
}

const stage_spec* stage_registry::find(const std::string& name) const {
  auto it = specs_.find(name);
  if (it != specs_.end())
    return &it->second;
  auto colon = name.find(':');
  if (colon == std::string::npos)
    return nullptr;
  auto fam = families_.find(name.substr(0, colon));
  if (fam == families_.end())
    return nullptr;
  std::lock_guard lock{*made_mutex_};
  if (auto made = made_.find(name); made != made_.end())
    return &made->second;
  auto spec = fam->second.resolve(name.substr(colon + 1));
  if (!spec)
    return nullptr;
  spec->name = name;
  return &made_.emplace(name, std::move(*spec)).first->second;
}

std::vector<std::pair<std::string, std::string>>
stage_registry::families() const {
  std::vector<std::pair<std::string, std::string>> result;
  for (auto& [prefix, fam] : families_)
    result.emplace_back(prefix + ":NAME", fam.summary);
  return result;
}

std::vector<std::string> stage_registry::filter_names() const {
  std::vector<std::string> names;
  for (auto& [name, spec] : specs_)
    if (spec.make && !pipeline_stage_settings(name))
      names.push_back(name);
  return names;
}

std::vector<const stage_spec*> stage_registry::all() const {
  std::vector<const stage_spec*> result;
  for (auto& [name, spec] : specs_)
    result.push_back(&spec);
  return result;
}

std::optional<std::string> pipeline_stage_settings(const std::string& name) {
  if (name == "load")
    return "[source]";
  if (name == "save")
    return "[sink]";
  if (name == "commit")
    return "--workers commit=N";
  return std::nullopt;
}

} // namespace pixline
