#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "actors/run/inputs.hpp"
#include "pipeline/job.hpp"
#include "pipeline/metrics.hpp"
#include "pipeline/safe_fs.hpp"

namespace pixline {

class stage_registry;

/// Command-line overrides and hooks for one run.
struct run_options {
  /// Replaces `[source] path` (a folder, a file, or a glob per source kind).
  std::string input;
  /// Replaces `[sink] path`.
  std::string output;
  /// Replaces a stage's `workers`, by stage type ("load", "save",
  /// "sharpen"...).
  std::vector<std::pair<std::string, int>> workers;
  /// Called for each finished image, in finishing order.
  std::function<void(const job&)> on_finished;
  /// Batch: called once the inputs are listed, with their number.
  std::function<void(std::size_t total)> on_listed;
  /// Called once the run or watch is running, with a function that stops
  /// it gracefully (stop taking files, finish those in flight; a batch's
  /// report then says it was interrupted). Safe to call from any thread,
  /// e.g. a signal handler's thread, until the run returns.
  std::function<void(std::function<void()> stop)> on_watching;
  /// A queue source: stop once the queue stays empty instead of serving
  /// until stopped.
  bool until_empty = false;
  /// Where the run counts images, time and queues (for `/metrics`); none
  /// when null.
  std::shared_ptr<metrics_registry> metrics;
};

/// The outcome of a run.
struct run_report {
  std::size_t total = 0;
  std::size_t succeeded = 0;
  std::size_t skipped = 0;
  /// Failed jobs, with the stage and the reason.
  std::vector<job> failures;
  /// Most images admitted and not yet finished at once (protocol view).
  std::int64_t peak_in_flight = 0;
  /// Most images alive at once (counted by the images themselves).
  std::int64_t peak_live_images = 0;
  /// The pipeline-wide budget the run used.
  int max_in_flight = 0;
  /// Watch mode: files found already finished in the journal.
  std::size_t already_done = 0;
  /// Watch mode: transient failures tried again.
  std::size_t retried = 0;
  /// Batch: stopped through `run_options::on_watching` before every input
  /// was admitted; `not_started` inputs were never read.
  bool interrupted = false;
  std::size_t not_started = 0;
};

/// Builds the stages of `config` and runs every input through them; returns
/// when all are written or failed. Throws config_error for problems found
/// before any image is read.
run_report run_pipeline(const pipeline_config& config,
                        const stage_registry& registry,
                        const run_options& options = {});

/// Watches `[source] path` and runs every file that is there or lands
/// there through the stages, each version of a file once (see
/// docs/watch.md), until stopped through `options.on_watching`.
run_report run_watch(const pipeline_config& config,
                     const stage_registry& registry,
                     const run_options& options = {});

/// Throws config_error when the output folder is the input folder (the same
/// folder by any path): every output would land among, or over, the inputs.
void check_output_folder(const pipeline_config& config,
                         const run_options& options = {});

/// Warnings about a config that runs but may not do what was meant: a
/// recursive source whose sink naming has no {dir}, so files of one name in
/// different sub-folders are named to the same output.
std::vector<std::string> config_warnings(const pipeline_config& config);

/// True when images run in worker processes (docs/operations.md,
/// "Isolation"): isolation = "process", no stage placed on a node, and a
/// program that can start workers of itself (run_worker_if_asked).
bool isolated(const pipeline_config& config);

/// Sets the process up for a run of `config` (scheduling policy, libvips)
/// and returns its pipeline-wide budget.
int prepare_run(const pipeline_config& config, const run_options& options);

/// The pipeline-wide budget a run of `config` uses.
int resolved_max_in_flight(const pipeline_config& config);

/// Workers a stage gets when the config does not say.
int default_workers(const std::string& stage_type);

} // namespace pixline
