#pragma once

#include <functional>
#include <string>

#include "config/config.hpp"

namespace pixline {

/// `pixline enqueue`: publishes every input below `input` (a folder below
/// the queue's root; the root when empty) with publisher confirms. Prints
/// what was confirmed and names every message that was not. Returns the
/// exit code: 0 all confirmed, 1 some refused by the broker, 5 no inputs.
int enqueue_folder(const pipeline_config& config, const std::string& input,
                   bool quiet);

/// `pixline watch --enqueue`: publishes each file that lands in `input`
/// (the root when empty) once it is complete, each version once (the
/// watch's journal records it once the broker confirmed it), until the
/// stop function handed to `on_running` is called.
int enqueue_watch(const pipeline_config& config, const std::string& input,
                  const std::function<void(std::function<void()>)>& on_running);

/// `pixline queue status`: the work queue's ready, unacknowledged and
/// consumer counts and the dead-letter queue's depth; with `dead` > 0, up
/// to that many dead-lettered messages with their last error.
int queue_status(const pipeline_config& config, int dead);

} // namespace pixline
