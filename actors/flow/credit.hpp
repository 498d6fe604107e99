#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "config/config.hpp"
#include "actors/flow/stage_runtime.hpp"
#include "pipeline/feed.hpp"
#include "pipeline/job.hpp"
#include "pipeline/metrics.hpp"

namespace pixline {

/// Settings of one flow of jobs through a chain of stages.
struct flow_options {
  /// Jobs admitted by the source and not yet finished by the last stage:
  /// the pipeline-wide bound on images in memory.
  int max_in_flight = 8;
  /// Run workers on their own threads (libvips calls block); switch off only
  /// for deterministic tests of the protocol itself.
  bool detached_workers = true;
  /// Called on the controller for every finished job, in finishing order.
  std::function<void(const job&)> on_finished;
  /// Keep every finished job in the report (a batch); a long-running watch
  /// keeps only counts.
  bool keep_finished = true;
  /// Where the flow counts images, time and queues for `/metrics`; none
  /// when null.
  std::shared_ptr<metrics_registry> metrics;
  /// Nodes the stages' remote placements name (docs/distributed.md), and
  /// the coordinator's TLS files for those with tls = true.
  std::vector<node_section> nodes;
  tls_section tls;
  /// How often a lost node is tried again.
  std::chrono::milliseconds retry{2000};
};

/// What a flow measured.
struct flow_report {
  /// Every job, finished, with its image dropped (when keep_finished).
  std::vector<job> finished;
  /// Jobs finished, failed or not.
  std::uint64_t finished_count = 0;
  /// Most jobs admitted and not yet finished at once.
  std::int64_t peak_in_flight = 0;
};

/// Runs the jobs of `feed` through `stages` in order with the credit protocol
/// described in docs/architecture.md, and returns when the feed is closed and
/// every job it gave is finished. The only function that knows jobs travel
/// as CAF messages.
flow_report run_flow(const std::vector<stage_runtime>& stages, job_feed& feed,
                     const flow_options& options);

/// The same for a fixed list of jobs.
flow_report run_flow(const std::vector<stage_runtime>& stages,
                     std::vector<job> inputs, const flow_options& options);

/// How much credit a stage with `budget` that holds `held` jobs (queued,
/// worked on, or granted and not arrived) asks upstream for now: 0, or all
/// its room. It waits for room for half its budget (the low-water mark),
/// so that credit travels in batches, unless its jobs are short (under
/// 10 ms on average, `job_ms`; negative before the first one finished):
/// then every job's room is asked for at once, as a batch would come a
/// job too late for a worker that is about to run out of work.
int credit_to_request(int budget, int held, double job_ms);

} // namespace pixline
