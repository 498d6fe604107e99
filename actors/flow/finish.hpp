#pragma once
// The closing steps every kind of worker takes with a job (a local thread,
// a worker process's, a remote worker's proxy): fail it when it failed,
// count it, pass it on, ask for the next one.

#include <chrono>
#include <cstdint>
#include <string>

#include "actors/flow/protocol.hpp"
#include "pipeline/job.hpp"
#include "pipeline/metrics.hpp"

namespace pixline {

/// Marks `j` failed in `stage` with `reason` ("unknown error" when empty)
/// and drops its image.
void fail_job(job& j, const std::string& stage, std::string reason);

/// A worker took a job at `started`: counted in `metrics` (may be null).
std::chrono::steady_clock::time_point start_job(stage_metrics* metrics);

/// Counts `j`, which a worker taken at `started` is done with (finished or
/// failed), in `metrics` (may be null), before it moves on, so a scrape
/// never sees a stage put out more than the one before it.
void count_finished(const job& j, stage_metrics* metrics,
                    std::chrono::steady_clock::time_point started);

/// A worker is done with `j`: counts it, hands it to `downstream` and tells
/// `dispatcher` that worker `index` is free. `self` is the worker (a local
/// worker or a remote worker's proxy).
template <class Self>
void finish_job(Self* self, job& j, const job_sink_actor& downstream,
                const dispatcher_actor& dispatcher, std::uint32_t index,
                stage_metrics* metrics,
                std::chrono::steady_clock::time_point started) {
  count_finished(j, metrics, started);
  self->send(downstream, std::move(j));
  self->send(dispatcher, demand_atom::value, index);
}

} // namespace pixline
