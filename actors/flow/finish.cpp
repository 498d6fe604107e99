#include "actors/flow/finish.hpp"

namespace pixline {

void fail_job(job& j, const std::string& stage, std::string reason) {
  j.error = reason.empty() ? "unknown error" : std::move(reason);
  j.failed_stage = stage;
  j.img.reset();
}

std::chrono::steady_clock::time_point start_job(stage_metrics* metrics) {
  if (metrics) {
    constexpr auto relaxed = std::memory_order_relaxed;
    // The worker keeps the busy gauge itself, so it reads 0 by the time
    // the job reaches the end of the pipeline (the dispatcher learns that
    // the worker is free only later, from its demand).
    metrics->busy_workers.fetch_add(1, relaxed);
    metrics->images_in.fetch_add(1, relaxed);
  }
  return std::chrono::steady_clock::now();
}

void count_finished(const job& j, stage_metrics* metrics,
                    std::chrono::steady_clock::time_point started) {
  if (metrics) {
    constexpr auto relaxed = std::memory_order_relaxed;
    auto took = std::chrono::steady_clock::now() - started;
    metrics->busy_ns.fetch_add(
      std::uint64_t(
        std::chrono::duration_cast<std::chrono::nanoseconds>(took).count()),
      relaxed);
    (j.failed() ? metrics->images_failed : metrics->images_out)
      .fetch_add(1, relaxed);
    metrics->busy_workers.fetch_sub(1, relaxed);
  }
}

} // namespace pixline
