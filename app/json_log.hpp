#pragma once

/// `--log-format json`: one JSON object per log line, for journald, Loki or
/// Vector: {"time": "2026-12-06T21:10:03.512Z", "level": "error",
/// "message": "...", "input": "...", "stage": "..."}; input and stage are
/// there when the line is about one file (pipeline/log_context.hpp).

#include <memory>

#include <spdlog/formatter.h>

namespace pixline {

std::unique_ptr<spdlog::formatter> make_json_log_formatter();

} // namespace pixline
