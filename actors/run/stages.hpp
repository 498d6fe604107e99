#pragma once
// The stage chain a config describes, as the transport runs it. Apart from
// run.hpp, so a program that only runs pipelines (examples/custom_stage.cpp)
// does not see the transport's types and, through them, CAF's headers.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/flow/credit.hpp"
#include "actors/flow/stage_runtime.hpp"
#include "actors/run/run.hpp"

namespace pixline {

class output_claims;

/// The stage chain a config describes, as the transport runs it (exposed for
/// tests and tools).
/// `claims` is the run's table of output names (a watch's knows the names
/// its earlier runs gave, from its journal); a new one when not given.
std::vector<stage_runtime> build_stages(
  const pipeline_config& config, const stage_registry& registry,
  const run_options& options = {},
  std::shared_ptr<output_claims> claims = nullptr);

/// The flow settings every source (list, watch, queue) runs with: the
/// pipeline's budget, finished jobs tallied rather than kept, the run's
/// metrics, and the config's nodes and TLS files. The caller adds its own
/// on_finished.
flow_options source_flow_options(const pipeline_config& config,
                                 int max_in_flight, const run_options& options);

} // namespace pixline
