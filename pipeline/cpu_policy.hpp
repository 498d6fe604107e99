#pragma once
// How the kernel schedules pixline's threads (`[pipeline] cpu_policy`;
// measured in bench/HISTORY.md, "SCHED_BATCH").

#include <string>
#include <vector>

namespace pixline {

/// The names `[pipeline] cpu_policy` takes: "batch" (the default) and
/// "normal".
const std::vector<std::string>& cpu_policy_names();

/// Sets the calling thread's scheduling policy, which the threads it starts
/// afterwards inherit: "batch" is Linux's SCHED_BATCH, "normal" SCHED_OTHER
/// (the kernel's default); the nice value is kept. Call it before the
/// pipeline starts its threads; pixline's run and watch do.
///
/// SCHED_BATCH tells the kernel the threads are CPU-bound and not
/// interactive: a thread woken up does not preempt the one running, it
/// waits for its turn. libvips wakes a thread for each strip it hands
/// between its threads, and under SCHED_OTHER each of those wake-ups could
/// preempt the other image's work. It is not a priority: other processes
/// get their share as before, and no privilege is needed.
///
/// Returns an empty string, or why the kernel refused (the policy is then
/// unchanged). Throws std::invalid_argument for a name not in
/// cpu_policy_names().
std::string apply_cpu_policy(const std::string& policy);

} // namespace pixline
