#pragma once
// The worker process side of isolation = "process" (docs/operations.md,
// "Isolation"). pixline starts its worker processes by running its own
// program again with PIXLINE_WORKER_SOCKET set; a program that embeds
// pixline and wants isolated workers calls run_worker_if_asked() first
// thing in main().

#include <functional>
#include <optional>

namespace pixline {

class stage_registry;

/// When this process was started as a pixline worker process, serves images
/// until pixline closes the link and returns the exit status for main() to
/// return; otherwise returns nothing at once. `add_stages` registers the
/// stages the program compiled in (besides the built-in ones and plugins),
/// as it does for its own pipelines.
std::optional<int>
run_worker_if_asked(const std::function<void(stage_registry&)>& add_stages = {});

/// True once run_worker_if_asked has been called in this process: only then
/// can the program start worker processes of itself.
bool worker_entry_installed();

} // namespace pixline
