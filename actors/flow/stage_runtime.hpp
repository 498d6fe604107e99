#pragma once
// One stage as the transport sees it (actors/flow/credit.hpp): what the run
// builds (actors/run/run.hpp) and the flow instantiates on local threads,
// worker processes and remote nodes.

#include <functional>
#include <string>
#include <vector>

#include "actors/net/recipes.hpp"
#include "config/config.hpp"
#include "pipeline/job.hpp"

namespace pixline {

struct stage_metrics;

/// What one worker of a stage does to a job. Exceptions escaping it fail the
/// job, naming the stage; they never reach the actor.
using work_fn = std::function<void(job&)>;

/// One stage as the transport sees it: a name, how many workers, how many
/// jobs it may hold, and how to make each worker's function.
struct stage_runtime {
  std::string name;
  int workers = 1;
  /// Jobs the stage may hold at once (queued plus being worked on).
  int max_in_flight = 2;
  /// Called once per worker, so each worker owns its own stage object.
  std::function<work_fn()> make_worker;
  /// Workers on other nodes (docs/distributed.md); `workers` then counts
  /// only this machine's and may be 0.
  std::vector<remote_placement> remote;
  /// How a node builds this stage (actors/net/recipes.hpp).
  std::string recipe;
  /// Called once per remote worker: the coordinator's half of it.
  std::function<remote_half()> make_remote_half;
  /// The stages each worker runs itself, in order (a worker process's
  /// chain, isolation = "process"); each is counted in the metrics as a
  /// stage of its own. Empty for an ordinary stage.
  std::vector<std::string> chain;
  /// With a chain, called instead of make_worker, with the chain's stage
  /// metrics (null pointers when the run has no metrics).
  std::function<work_fn(const std::vector<stage_metrics*>&)> make_chain_worker;
};

} // namespace pixline
