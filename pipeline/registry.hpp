#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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

  /// A family of stages made on demand: every name "PREFIX:SUFFIX" asks
  /// `resolve(SUFFIX)` for its spec the first time it is looked up (the
  /// generic `vips:OPERATION` stage). `summary` describes the family in
  /// `pixline stages`.
  using resolver = std::function<std::optional<stage_spec>(const std::string&)>;
  void add_family(std::string prefix, std::string summary, resolver resolve);

  /// The stage called `name`, or nullptr.
  const stage_spec* find(const std::string& name) const;

  /// Every registered stage in name order (without the members of families,
  /// which exist only once asked for).
  std::vector<const stage_spec*> all() const;

  /// The stages a [[filter]] or a chain element may name, in name order:
  /// those with a factory, other than the ones the pipeline places itself
  /// (pipeline_stage_settings).
  std::vector<std::string> filter_names() const;

  /// Each family's "PREFIX:..." pattern and summary.
  std::vector<std::pair<std::string, std::string>> families() const;

  /// Plugins whose stages were added (load_plugin records them), in load
  /// order: a worker process loads the same ones.
  const std::vector<std::string>& plugins() const {
    return plugins_;
  }
  void add_plugin(std::string path) {
    plugins_.push_back(std::move(path));
  }

  stage_registry() = default;
  stage_registry(const stage_registry& other);
  stage_registry& operator=(const stage_registry& other);
  stage_registry(stage_registry&&) noexcept = default;
  stage_registry& operator=(stage_registry&&) noexcept = default;

private:
  struct family {
    std::string summary;
    resolver resolve;
  };
  std::map<std::string, stage_spec> specs_;
  std::map<std::string, family> families_;
  /// Family members made so far (find() is const; lookups may come from
  /// several threads).
  mutable std::unique_ptr<std::mutex> made_mutex_ = std::make_unique<std::mutex>();
  mutable std::map<std::string, stage_spec> made_;
  std::vector<std::string> plugins_;
};

/// Where the settings of a stage that the pipeline places itself go: load
/// (always first) "[source]", save "[sink]", commit (always last, no
/// options) "--workers commit=N"; nullopt for any other stage. Such a stage
/// cannot be a [[filter]] or an element of a chain.
std::optional<std::string> pipeline_stage_settings(const std::string& name);

/// Registers every built-in stage: the loader, the writer, the commit stage
/// and each filter.
/// This is the one place that lists them. The stages are the runtime's
/// (actors/filters/builtin_stages.cpp): these two are defined there, not in
/// the ground layer, and a program that calls them links the runtime.
void register_builtin_stages(stage_registry& registry);

/// A registry with the built-in stages (defined by the runtime, as above).
stage_registry builtin_registry();

} // namespace pixline
