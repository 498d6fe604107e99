#include "pipeline/events.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace pixline {

namespace {

/// UTC time with milliseconds, ISO 8601.
std::string now_iso() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              now.time_since_epoch())
              .count()
            % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms);
}

nlohmann::json event(const char* name) {
  return {{"event", name}, {"time", now_iso()}};
}

} // namespace

event_log::event_log(const std::string& target) {
  if (target == "-") {
    out_ = stdout;
    return;
  }
  out_ = std::fopen(target.c_str(), "a");
  if (!out_)
    throw std::runtime_error(fmt::format("--events {}: cannot open: {}",
                                         target, std::strerror(errno)));
  owned_ = true;
}

event_log::~event_log() {
  if (owned_)
    std::fclose(out_);
}

void event_log::write(const std::string& line) {
  std::lock_guard<std::mutex> guard{mutex_};
  std::fputs(line.c_str(), out_);
  std::fputc('\n', out_);
  std::fflush(out_);
}

void event_log::started(const std::string& pipeline, const std::string& mode,
                        int max_in_flight) {
  auto e = event("started");
  e["pipeline"] = pipeline;
  e["mode"] = mode;
  e["max_in_flight"] = max_in_flight;
  write(e.dump());
}

void event_log::finished_job(const job& j, bool quarantined) {
  // File names are bytes, not always UTF-8: replace what is not.
  constexpr auto replace = nlohmann::json::error_handler_t::replace;
  nlohmann::json e;
  if (j.failed()) {
    e = event("failed");
    e["stage"] = j.failed_stage;
    e["error"] = j.error;
    e["quarantined"] = quarantined;
  } else if (j.skipped) {
    e = event("skipped");
  } else {
    e = event("written");
    e["outputs"] = j.outputs;
  }
  e["input"] = j.path;
  write(e.dump(-1, ' ', false, replace));
}

void event_log::finished(const run_report& report, double seconds) {
  auto e = event("finished");
  e["total"] = report.total;
  e["written"] = report.succeeded;
  e["skipped"] = report.skipped;
  e["failed"] = report.failures.size();
  e["seconds"] = seconds;
  e["peak_in_flight"] = report.peak_in_flight;
  write(e.dump());
}

} // namespace pixline
