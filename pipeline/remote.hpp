#pragma once
// Stages whose workers run on other nodes (docs/distributed.md): how a node
// builds a stage from a recipe, and what the coordinator does around each
// job it sends there. Input and output files stay on the coordinator; nodes
// get bytes and pixels, never paths.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "actors/wire.hpp"
#include "config/config.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;
struct job;

/// The coordinator's half of one remote worker: turns a job into a message
/// (reading the input file for `load`, computing the image for later
/// stages) and the node's reply back into the job (writing the outputs for
/// `save`). Both throw to fail the job.
struct remote_half {
  /// `encoding`: how to send the image ("" raw, "png"; `[[node]] wire`).
  std::function<wire_job(job&, const std::string& encoding)> send;
  std::function<void(job&, wire_result&)> receive;
};

/// What a node runs for one job of one stage. Never throws: a failure is
/// the result's error.
using node_work_fn = std::function<wire_result(wire_job&)>;

/// Makes one node worker per call, from a recipe. Throws std::runtime_error
/// when the recipe names a stage this node does not have (a plugin not
/// loaded here) or is malformed.
std::function<node_work_fn()> node_worker_factory(
  const std::string& recipe, const stage_registry& registry);

/// Recipes, as build_stages makes them.
std::string load_recipe(const option_map& load_options,
                        const load_params& params,
                        const std::string& fused_type,
                        const option_map& fused_options);
std::string filter_recipe(const std::string& type, const option_map& options);

struct sink_recipe {
  option_map options;
  std::vector<std::pair<std::string, option_map>> filters;
};
std::string save_recipe(const std::vector<sink_recipe>& sinks,
                        std::int64_t memory_limit);

/// The coordinator's halves of each kind of stage.
remote_half load_half(int max_file_mib);
remote_half filter_half();
/// `store` writes a job's encoded outputs (a fanout's store()).
remote_half save_half(
  std::function<void(job&, const std::vector<wire_output>&)> store);

} // namespace pixline
