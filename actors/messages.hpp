#pragma once

// Message types of the credit protocol, registered with CAF's type-id block
// API (0.17.5+), which carries over to newer CAF releases.

#include <caf/all.hpp>

#include "pipeline/job.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(pixline, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(pixline, (pixline::job))

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

CAF_END_TYPE_ID_BLOCK(pixline)

// A job holds a vips::VImage, which only makes sense inside this process; it
// must never be serialized (CAF's serializers skip unsafe types silently).
// Anything that crosses a process boundary needs a serializable type of its
// own.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pixline::job)
