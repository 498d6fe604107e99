#pragma once

// Message types of the credit protocol, registered with CAF's type-id block
// API (0.17.5+), which carries over to newer CAF releases.

#include <caf/all.hpp>

#include "actors/net/wire.hpp"
#include "pipeline/job.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(pixline, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(pixline, (pixline::job))
  CAF_ADD_TYPE_ID(pixline, (pixline::wire_field))
  CAF_ADD_TYPE_ID(pixline, (pixline::wire_image))
  CAF_ADD_TYPE_ID(pixline, (pixline::wire_output))
  CAF_ADD_TYPE_ID(pixline, (pixline::wire_job))
  CAF_ADD_TYPE_ID(pixline, (pixline::wire_result))
  CAF_ADD_TYPE_ID(pixline, (std::vector<std::uint64_t>))

  /// Worker -> its stage: "I finished one job, give me another".
  CAF_ADD_ATOM(pixline, pixline, demand_atom, "demand")

  /// Stage -> the stage before it: "you may send me n more jobs".
  CAF_ADD_ATOM(pixline, pixline, credit_atom, "credit")

  /// Controller -> a stage: "your upstream is this actor".
  CAF_ADD_ATOM(pixline, pixline, connect_atom, "connect")

  /// Requester -> controller: "tell me when every job is finished".
  CAF_ADD_ATOM(pixline, pixline, wait_atom, "wait")

  /// Feed -> controller: "jobs may be ready, or the feed closed".
  CAF_ADD_ATOM(pixline, pixline, wake_atom, "wake")

  /// Coordinator -> node: "run N workers of this stage recipe for me".
  CAF_ADD_ATOM(pixline, pixline, setup_atom, "setup")

  /// Remote worker's proxy -> its stage: "my node is gone" (with the job it
  /// had, if any, to be sent again).
  CAF_ADD_ATOM(pixline, pixline, lost_atom, "lost")

  /// Node keeper -> a stage: "here are workers on a (re)connected node".
  CAF_ADD_ATOM(pixline, pixline, join_atom, "join")

  /// Node keeper -> itself: "try to reach the node again".
  CAF_ADD_ATOM(pixline, pixline, retry_atom, "retry")

  /// Controller -> itself: "nothing was in flight since admission N".
  CAF_ADD_ATOM(pixline, pixline, idle_atom, "idle")

  /// Stage -> a remote worker's proxy that said its node is lost: "I send
  /// you nothing more; stop". Every job the stage sent before it reaches the
  /// proxy first, which gives it back.
  CAF_ADD_ATOM(pixline, pixline, retire_atom, "retire")

  /// Controller <-> stages: "which jobs do you hold?" (the run's accounting
  /// check, actors/flow/credit.cpp).
  CAF_ADD_ATOM(pixline, pixline, audit_atom, "audit")

  /// Courier <-> node worker: one part of a job or result sent in parts
  /// (actors/remote.cpp), so a big image does not starve the connection's
  /// liveness check.
  CAF_ADD_ATOM(pixline, pixline, part_atom, "part")

  /// Node worker -> courier: "part N of job id arrived" (and "the whole job
  /// arrived, working on it"): progress that keeps the job's silence limit
  /// (the node's timeout) from running out while bytes are still moving.
  CAF_ADD_ATOM(pixline, pixline, got_atom, "got")

  /// Courier -> itself: "check whether the node has been silent too long".
  CAF_ADD_ATOM(pixline, pixline, tick_atom, "tick")

CAF_END_TYPE_ID_BLOCK(pixline)

// A job holds a vips::VImage, which only makes sense inside this process; it
// must never be serialized (CAF's serializers skip unsafe types silently).
// Anything that crosses a process boundary needs a serializable type of its
// own.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pixline::job)
