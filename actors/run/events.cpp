#include "actors/run/events.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <glib.h>
#include <nlohmann/json.hpp>

namespace pixline {

namespace {

/// UTC time with milliseconds, ISO 8601.
std::string now_iso() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              now.time_since_epoch())
              .count()
            % 1000;
  return fmt::format("{:%FT%T}.{:03}Z", fmt::gmtime(now), ms);
}

nlohmann::json event(const char* name) {
  return {{"event", name}, {"time", now_iso()}};
}

bool valid_utf8(const std::string& s) {
  return g_utf8_validate(s.data(), gssize(s.size()), nullptr);
}

std::string base64(const std::string& s) {
  std::unique_ptr<gchar, decltype(&g_free)> text(
    g_base64_encode(reinterpret_cast<const guchar*>(s.data()), s.size()),
    &g_free);
  return text.get();
}

/// File names are bytes, not always UTF-8. A name that is goes in `key` as
/// it is; one that is not goes in `key` readable (U+FFFD for each bad byte,
/// when the line is dumped) and, exactly, base64-encoded in `key_bytes`.
void put_name(nlohmann::json& e, const std::string& key,
              const std::string& name) {
  e[key] = name;
  if (!valid_utf8(name))
    e[key + "_bytes"] = base64(name);
}

/// The same for a list of names: `key_bytes` has every name, base64, when
/// any of them is not UTF-8.
void put_names(nlohmann::json& e, const std::string& key,
               const std::vector<std::string>& names) {
  e[key] = names;
  if (std::all_of(names.begin(), names.end(), valid_utf8))
    return;
  auto exact = nlohmann::json::array();
  for (auto& name : names)
    exact.push_back(base64(name));
  e[key + "_bytes"] = exact;
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
                        int max_in_flight, std::optional<std::size_t> total) {
  auto e = event("started");
  e["pipeline"] = pipeline;
  e["mode"] = mode;
  e["max_in_flight"] = max_in_flight;
  if (total)
    e["total"] = *total;
  write(e.dump());
}

void event_log::finished_job(const job& j, bool quarantined) {
  // Names that are not UTF-8 have an exact copy beside them (put_name);
  // error texts quote them, and there they are only replaced.
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
    put_names(e, "outputs", j.outputs);
  }
  put_name(e, "input", j.path);
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

void event_log::reloaded(const std::string& file, const std::string& error) {
  auto e = event("reloaded");
  put_name(e, "config", file);
  e["result"] = error.empty() ? "ok" : "error";
  if (!error.empty())
    e["error"] = error;
  write(e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

} // namespace pixline
