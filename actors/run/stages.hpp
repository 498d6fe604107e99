#pragma once
// The stage chain a config describes, as the transport runs it. Apart from
// run.hpp, so a program that only runs pipelines (examples/custom_stage.cpp)
// does not see the transport's types and, through them, CAF's headers.

#include <string>
#include <utility>
#include <vector>

#include "actors/flow/stage_runtime.hpp"
#include "actors/run/run.hpp"

namespace pixline {

/// The stage chain a config describes, as the transport runs it (exposed for
/// tests and tools).
/// `claimed` are outputs earlier runs wrote (output path -> input path, from
/// a watch's journal): on_collision treats them as this run's own claims.
std::vector<stage_runtime> build_stages(
  const pipeline_config& config, const stage_registry& registry,
  const run_options& options = {},
  const std::vector<std::pair<std::string, std::string>>& claimed = {});

} // namespace pixline
