#pragma once
// The closing steps every kind of worker takes with a job (a local thread,
// a worker process's, a remote worker's proxy): fail it when it failed,
// count it, pass it on, ask for the next one.

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/all.hpp>

#include "pipeline/job.hpp"
#include "pipeline/metrics.hpp"

namespace pixline {

/// Marks `j` failed in `stage` with `reason` ("unknown error" when empty)
/// and drops its image.
void fail_job(job& j, const std::string& stage, std::string reason);

/// A worker took a job at `started`: counted in `metrics` (may be null).
std::chrono::steady_clock::time_point start_job(stage_metrics* metrics);

/// A worker is done with `j` (finished or failed): counts it in `metrics`
/// (may be null) with the time since `started`, before it moves on (so a
/// scrape never sees a stage put out more than the one before it), hands it
/// to `downstream` and tells `dispatcher` that worker `index` is free.
void finish_job(caf::event_based_actor* self, job& j,
                const caf::actor& downstream, const caf::actor& dispatcher,
                std::uint32_t index, stage_metrics* metrics,
                std::chrono::steady_clock::time_point started);

} // namespace pixline
