#pragma once
// The flow protocol as typed actor interfaces: one handle type per role,
// each message with who sends it and what it means. A handle of one role
// can be given where a smaller one is asked for (a stage is a job sink to
// the stage before it), so each actor is handed only the messages it may
// send. docs/architecture.md, "Jobs and messages", tells the protocol as a
// whole.
//
// What stays untyped, and why:
// - the node keeper's liveness token (`owner` in setup_atom): the node only
//   monitors it and never sends it anything, so it has no interface;
// - the sender of a node worker's request, `current_sender()`: CAF hands it
//   untyped, and the node worker casts it to `courier_inbox_actor`, the
//   only actor that asks it;
// - a proxy's request to its courier: it sends the wire_job message it
//   keeps (a lost node's job takes its image back from it) without copying
//   the pixels, and CAF 0.17's typed request takes values only;
// - the middleman's connect reply and `caf::scoped_actor`s: CAF's own
//   actors. A node's published actor comes with its interface's names, and
//   a coordinator takes it only when they are `node_actor`'s.
//
// `job_sink_actor` and `worker_actor` are the same interface under two
// names: a worker takes jobs as a stage does.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/flow/messages.hpp"

namespace pixline {

// -- jobs and credit: stages and the controller ----------------------------------

/// Where a job goes next: the next stage, or the controller after the last.
using job_sink_actor = caf::typed_actor<
  /// A worker (or a stage passing a failed job through, or the controller
  /// admitting one): here is a job, with the credit the receiver granted.
  caf::reacts_to<job>>;

/// Where credit goes: the stage before, or the controller before the first.
using credit_sink_actor = caf::typed_actor<
  /// The next stage (for the last stage, the controller): "you may send me
  /// n more jobs".
  caf::reacts_to<credit_atom, std::uint32_t>>;

/// What a worker asks of its stage.
using dispatcher_actor = caf::typed_actor<
  /// Worker i: "I finished my job (and passed it on); give me another".
  caf::reacts_to<demand_atom, std::uint32_t>>;

/// What a remote worker's proxy asks of its stage besides demand.
using remote_dispatcher_actor = dispatcher_actor::extend<
  /// Proxy i: "my node is gone (why)"; the stage stops choosing it and
  /// answers retire_atom.
  caf::reacts_to<lost_atom, std::uint32_t, std::string>,
  /// Proxy i: "my node is gone (why); here is the job I had, or one that
  /// reached me after": the stage gives it to another worker, first.
  caf::reacts_to<lost_atom, std::uint32_t, std::string, job>>;

/// One worker of a stage, local (its own thread) or a remote worker's proxy:
/// one job at a time.
using worker_actor = caf::typed_actor<
  /// Its stage: a job to work on; sent only to an idle worker and only
  /// against the next stage's credit.
  caf::reacts_to<job>>;

// -- remote workers (actors/net/remote.cpp) ----------------------------------------

/// Parts of a job or result travel in messages of at most 256 KiB
/// (remote.cpp, part_bytes), so a big image does not starve the
/// connection's liveness check; what the node worker sends its courier.
using courier_inbox_actor = caf::typed_actor<
  /// Node worker: one part (not the last) of the result of job `id`.
  caf::reacts_to<part_atom, std::uint64_t, std::string>,
  /// Node worker: "part of job `id` arrived" or "all of it arrived, working
  /// on it": progress that keeps the job's silence limit (the node's
  /// timeout) from running out while bytes still move.
  caf::reacts_to<got_atom, std::uint64_t>>;

/// A remote worker on its node.
using node_worker_actor = caf::typed_actor<
  /// Courier: one part (not the last) of job `id`, a serialized wire_job.
  caf::reacts_to<part_atom, std::uint64_t, std::string>,
  /// Courier: the last part of job `id`; answered with the last part of
  /// the serialized wire_result, after the others as part_atom messages.
  caf::replies_to<std::uint64_t, std::string>::with<std::string>>;

/// The actor a node publishes (`pixline node`).
using node_actor = caf::typed_actor<
  /// Node keeper: "start `count` workers of this stage recipe for me
  /// (`owner`: stop them when it goes down)"; answered with the workers,
  /// or an error when the node refuses the recipe.
  caf::replies_to<setup_atom, std::string, std::uint32_t,
                  caf::actor>::with<std::vector<node_worker_actor>>>;

/// A remote worker's proxy on the coordinator: a worker to its stage.
using remote_worker_actor = worker_actor::extend<
  /// Its stage, after the proxy said it is lost: "I send you nothing more";
  /// every job sent before reaches the proxy first and goes back.
  caf::reacts_to<retire_atom>,
  /// Its courier: "the node is gone (why)".
  caf::reacts_to<lost_atom, std::string>>;

/// Carries one remote worker's jobs to its node and the results back, with
/// the node's timeout as a silence limit.
using courier_actor = courier_inbox_actor::extend<
  /// Its proxy: one job; answered with the node's result, or
  /// sec::request_timeout when the node was silent for its timeout.
  caf::replies_to<wire_job>::with<wire_result>,
  /// Itself: "check whether the node has been silent too long".
  caf::reacts_to<tick_atom>>;

// -- stages and the controller -------------------------------------------------------

/// A stage's dispatcher: a job sink to the stage before it, a credit sink to
/// the stage after it, a dispatcher to its workers.
using stage_actor = job_sink_actor::extend_with<
  credit_sink_actor, remote_dispatcher_actor>::extend<
  /// run_flow: "the actor before you is this one" (the stage before, or the
  /// controller); the stage then asks it for credit.
  caf::reacts_to<connect_atom, credit_sink_actor>,
  /// Node keeper: workers on a (re)connected node, its name, its timeout and
  /// how images travel to it ("" raw, "png"); each gets a proxy.
  caf::reacts_to<join_atom, std::vector<node_worker_actor>, std::string,
                 caf::timespan, std::string>,
  /// Controller, every second: "which jobs do you hold?"; answered with the
  /// round and the tickets of the jobs queued or at a worker.
  caf::replies_to<audit_atom, std::uint64_t>::with<
    audit_atom, std::uint64_t, std::vector<std::uint64_t>>>;

/// The controller: source and sink of every job. A job sink to the last
/// stage (finished jobs), a credit sink to the first.
using controller_actor = job_sink_actor::extend_with<credit_sink_actor>::extend<
  /// run_flow, once every node took its stages: the stages in order; the
  /// run starts.
  caf::reacts_to<connect_atom, std::vector<stage_actor>>,
  /// run_flow: answered once every job is finished and the feed closed,
  /// with why the run stopped early (empty when it did not).
  caf::replies_to<wait_atom>::with<std::string>,
  /// The feed (any thread): "jobs may be ready, or the feed closed".
  caf::reacts_to<wake_atom>,
  /// Itself: "nothing was in flight since admission n" (trim the heap).
  caf::reacts_to<idle_atom, std::uint64_t>,
  /// Itself, every second: time for an audit.
  caf::reacts_to<audit_atom>,
  /// A stage: its answer to audit round n (the tickets it holds).
  caf::reacts_to<audit_atom, std::uint64_t, std::vector<std::uint64_t>>>;

/// One per node on the coordinator: connects, starts the node's workers and
/// hands them to the stages (join_atom); reconnects when the node is lost.
using node_keeper_actor = caf::typed_actor<
  /// run_flow: "connect and set up"; answered with why the node cannot take
  /// its stages, empty when it took them.
  caf::replies_to<connect_atom>::with<std::string>,
  /// Itself: "try to reach the node again".
  caf::reacts_to<retry_atom>>;

} // namespace pixline

// Handles of the protocol that cross the network need a type name of their
// own in CAF 0.17; the ids follow pixline's block (messages.hpp).
CAF_BEGIN_TYPE_ID_BLOCK(pixline_handles, caf::id_block::pixline::end)

  CAF_ADD_TYPE_ID(pixline_handles, (std::vector<pixline::node_worker_actor>))

CAF_END_TYPE_ID_BLOCK(pixline_handles)

namespace pixline {

/// Announces every message type of the protocol to an actor system.
inline void add_protocol_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::pixline>();
  cfg.add_message_types<caf::id_block::pixline_handles>();
}

} // namespace pixline
