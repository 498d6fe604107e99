#pragma once

// The message types of the flow protocol (actors/flow/protocol.hpp, which
// registers them with add_protocol_types), in CAF's type-id block API
// (0.17.5+), which carries over to newer CAF releases.

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

  // The protocol's atoms; who sends each message to whom, and what it
  // means, is in the actor interfaces (actors/flow/protocol.hpp).
  CAF_ADD_ATOM(pixline, pixline, demand_atom, "demand")
  CAF_ADD_ATOM(pixline, pixline, credit_atom, "credit")
  CAF_ADD_ATOM(pixline, pixline, connect_atom, "connect")
  CAF_ADD_ATOM(pixline, pixline, wait_atom, "wait")
  CAF_ADD_ATOM(pixline, pixline, wake_atom, "wake")
  CAF_ADD_ATOM(pixline, pixline, setup_atom, "setup")
  CAF_ADD_ATOM(pixline, pixline, lost_atom, "lost")
  CAF_ADD_ATOM(pixline, pixline, join_atom, "join")
  CAF_ADD_ATOM(pixline, pixline, retry_atom, "retry")
  CAF_ADD_ATOM(pixline, pixline, idle_atom, "idle")
  CAF_ADD_ATOM(pixline, pixline, retire_atom, "retire")
  CAF_ADD_ATOM(pixline, pixline, audit_atom, "audit")
  CAF_ADD_ATOM(pixline, pixline, part_atom, "part")
  CAF_ADD_ATOM(pixline, pixline, got_atom, "got")
  CAF_ADD_ATOM(pixline, pixline, tick_atom, "tick")

CAF_END_TYPE_ID_BLOCK(pixline)

// A job holds a vips::VImage, which only makes sense inside this process; it
// must never be serialized (CAF's serializers skip unsafe types silently).
// Anything that crosses a process boundary needs a serializable type of its
// own.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pixline::job)
