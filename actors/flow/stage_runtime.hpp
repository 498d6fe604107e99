#pragma once
// One stage as the transport sees it (actors/flow/credit.hpp): what the run
// builds (actors/run/run.hpp) and the flow instantiates on local threads,
// worker processes and remote nodes.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
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

/// Tells a queued worker (below), waiting for the job it works on, that its
/// stage sent it another: an eventfd the worker polls, counting the jobs
/// announced against the jobs the worker took from its mailbox.
class job_signal {
public:
  job_signal();
  ~job_signal();
  job_signal(const job_signal&) = delete;
  job_signal& operator=(const job_signal&) = delete;
  /// What the worker polls (readable after announce()).
  int fd() const {
    return fd_;
  }
  /// The stage, after sending the worker a job (from any thread).
  void announce();
  /// The worker, for each job it takes from its mailbox.
  void taken() {
    ++taken_;
  }
  /// The worker, when fd() was readable: whether a job sent to it waits in
  /// its mailbox.
  bool waiting();

private:
  int fd_ = -1;
  /// Jobs announced and taken, as the worker counted them.
  std::uint64_t announced_ = 0;
  std::uint64_t taken_ = 0;
};

/// A worker that holds more than one job: start() hands it a job, which it
/// begins when it is done with the ones started before; finish() waits for
/// the oldest and completes it. A worker process's: the next image waits in
/// its link while it works on one, so it never waits for pixline between
/// two images. Exceptions escaping finish() fail that job.
class queued_work {
public:
  virtual ~queued_work() = default;
  /// Starts `j` after the jobs started before it; `j` stays where it is
  /// until finish() returned true for it. Never throws.
  virtual void start(job& j) = 0;
  /// Waits for the oldest job started and not finished, `j`, and completes
  /// it; returns false, leaving it started, as soon as `signal` says a job
  /// waits in the worker's mailbox (to be started first).
  virtual bool finish(job& j, job_signal& signal) = 0;
};

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
  /// When set, each local worker is one of these instead (made with the
  /// chain's stage metrics), and takes its next job while it works on one.
  std::function<std::shared_ptr<queued_work>(
    const std::vector<stage_metrics*>&)>
    make_queued_worker;
};

} // namespace pixline
